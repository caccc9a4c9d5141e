// Polls in the meeting room (F14). Organizers and presenters pick one of their polls
// in the Polls panel and submit it; everyone gets a poll card over the room. The
// others answer it (once: answers are final); managers follow it live (completion,
// time, a summary per question) and close it, share its results, stop sharing it and
// save it as PDF. The server's events are the truth: this module only renders them.
// The room loads it on first need (features.js): a poll is on screen, or a manager
// opens the Polls panel; the card and the panel come with it (meetings/room/_polls.html).
import { describeError, el } from "./dom.js";
import { fmt } from "../ui.js";

if (typeof window.ngettext !== "function") window.ngettext = (singular, plural, count) => (count === 1 ? singular : plural);

const MANAGERS = ["organizer", "presenter"];
// A PDF that has not come after this long: give the button back (the worker may be
// down); asking again is safe.
const PDF_PATIENCE_MS = 90_000;

// 75 → "1:15", 3700 → "1:01:40".
function clock(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor(total / 60) % 60;
  return hours ? `${hours}:${two(minutes)}:${two(total % 60)}` : `${minutes}:${two(total % 60)}`;
}

function duration(seconds) {
  if (seconds < 60) return fmt(gettext("%s s"), [seconds]);
  if (seconds % 60 === 0) return fmt(gettext("%s min"), [seconds / 60]);
  return fmt(gettext("%s min %s s"), [Math.floor(seconds / 60), seconds % 60]);
}

const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const percent = (value) => percentFormat.format((Number(value) || 0) / 100);

function button(className, text) {
  const node = el("button", className, text);
  node.type = "button";
  return node;
}

export class Polls {
  // `urls`: {create, edit} of the Polling Repository (edit has "/0/" for the id).
  constructor({ toolbarButton, dialog, card, selfId, role, request, urls }) {
    Object.assign(this, { toolbarButton, dialog, card, selfId, request, urls });
    this.role = role || "participant";
    this.run = null; // the run on screen (docs/protocol.md, "Polls")
    this.summary = null;
    this.answered = false;
    this.minimised = false;
    this.skewMs = 0; // this clock minus the server's, learnt from fresh events
    this.pdfPending = false;
    this.pdfTimer = 0;
    this.ticker = 0;
    this.loading = false;
    this.voting = false;
    this.timeUpShown = false;
    this.bindPanel();
    this.bindCard();
  }

  get isManager() {
    return MANAGERS.includes(this.role);
  }

  get isStarter() {
    return Boolean(this.run) && this.run.started_by === this.selfId;
  }

  // What tests (and the curious) may read: window.parleyRoom.poll.
  get state() {
    if (!this.run) return null;
    return {
      id: this.run.id,
      title: this.run.title,
      status: this.run.status,
      results_shared: this.run.results_shared,
      answered: this.answered,
      view: this.card.dataset.view,
      minimised: this.minimised,
      pdf_pending: this.pdfPending,
      summary: this.summary && structuredClone(this.summary),
    };
  }

  // --- Role and server events ---------------------------------------------------------

  setRole(role) {
    const was = this.role;
    this.role = role;
    this.toolbarButton.hidden = !this.isManager;
    if (!this.isManager && this.dialog.open) this.dialog.close();
    if (was !== role && this.run) this.render();
  }

  // The snapshot's `poll` (a new socket, after a reconnection too).
  snapshot(run) {
    if (!run) return this.clear();
    const same = this.run && this.run.id === run.id;
    this.run = run;
    this.summary = run.summary || (same ? this.summary : null);
    this.answered = Boolean(run.answered) || (same && this.answered);
    if (!same) this.newRun();
    this.render();
  }

  onEvent(type, body) {
    const handler = {
      "poll.started": () => this.started(body),
      "poll.summary": () => this.onSummary(body),
      "poll.closed": () => this.closed(body),
      "poll.results": () => this.results(body),
      "poll.hidden": () => this.hidden(body),
      "poll.pdf": () => this.pdfEvent(body),
    }[type];
    if (handler) handler();
  }

  started(run) {
    this.skewMs = Date.now() - Date.parse(run.started_at); // it started just now
    if (!Number.isFinite(this.skewMs)) this.skewMs = 0;
    this.run = run;
    this.summary = null;
    this.answered = false;
    this.newRun();
    this.render();
    this.announce(fmt(gettext("New poll: %s"), [run.title]));
  }

  onSummary(summary) {
    if (!this.run || summary.run_id !== this.run.id) return;
    this.summary = summary;
    this.run.status = summary.status;
    this.render();
  }

  closed({ run_id: id, closed_at: closedAt, closed_by: closedBy }) {
    if (!this.run || id !== this.run.id) return;
    const skew = Date.now() - Date.parse(closedAt);
    if (Number.isFinite(skew)) this.skewMs = skew; // it closed just now
    Object.assign(this.run, { status: "closed", closed_at: closedAt, closed_by: closedBy });
    this.render();
    if (!this.isManager) this.announce(gettext("Poll closed"));
  }

  results(run) {
    const same = this.run && this.run.id === run.id;
    // Managers keep their own summary (with voters): counts are final once closed.
    const keep = same && this.isManager && this.summary;
    this.run = run;
    if (!keep) this.summary = run.summary || null;
    if (!same) this.newRun();
    this.minimised = false;
    this.render();
    this.announce(fmt(gettext("Results of the poll: %s"), [run.title]));
  }

  hidden({ run_id: id }) {
    if (this.run && id === this.run.id) this.clear();
  }

  pdfEvent({ run_id: id, status, url, error }) {
    if (!this.run || id !== this.run.id) return;
    this.run.pdf_status = status;
    this.pdfOutcome({ status, url, error });
  }

  // --- The Polls panel (managers) ----------------------------------------------------------

  // (The toolbar button is the core's: it calls openPanel.)
  bindPanel() {
    this.panel = {
      list: this.dialog.querySelector(".poll-list"),
      status: this.dialog.querySelector(".poll-panel__status"),
      error: this.dialog.querySelector(".panel__error"),
      refresh: this.dialog.querySelector(".poll-panel__refresh"),
    };
    this.panel.refresh.addEventListener("click", () => this.loadPolls());
    this.dialog.querySelector(".poll-panel__close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => this.toolbarButton.setAttribute("aria-expanded", "false"));
    this.panel.list.addEventListener("click", (event) => {
      const submit = event.target.closest(".poll-item__submit");
      if (submit) this.submitPoll(Number(submit.closest("[data-poll-id]").dataset.pollId), submit);
    });
  }

  openPanel() {
    if (!this.isManager) return;
    if (!this.dialog.open) this.dialog.showModal();
    this.toolbarButton.setAttribute("aria-expanded", "true");
    this.loadPolls();
  }

  panelError(text) {
    this.panel.error.textContent = text;
    this.panel.error.hidden = !text;
  }

  async loadPolls() {
    if (this.loading) return;
    this.loading = true;
    this.panel.refresh.disabled = true;
    this.panel.status.textContent = gettext("Loading your polls…");
    this.panelError("");
    try {
      const { polls } = await this.request("poll.list", {});
      this.renderList(polls || []);
      this.panel.status.textContent = polls && polls.length ? "" : this.emptyListText();
    } catch (error) {
      this.panel.status.textContent = "";
      this.panelError(describeError(error));
    } finally {
      this.loading = false;
      this.panel.refresh.disabled = false;
    }
  }

  emptyListText() {
    if (this.dialog.querySelector("#polls-new")) return gettext("Your Polling Repository is empty. Create a poll with “New poll”.");
    return gettext("You have no polls: polls belong to signed-in users with a Polling Repository.");
  }

  renderList(polls) {
    this.panel.list.replaceChildren(
      ...polls.map((poll) => {
        const item = el("li", "poll-item");
        item.dataset.pollId = String(poll.id);
        const main = el("div", "poll-item__main");
        main.append(el("span", "poll-item__title", poll.title));
        const facts = [fmt(ngettext("%s question", "%s questions", poll.question_count), [poll.question_count]), duration(poll.duration_seconds)];
        if (poll.anonymous) facts.push(gettext("anonymous"));
        main.append(el("span", "poll-item__meta", facts.join(" · ")));
        const actions = el("div", "poll-item__actions");
        if (this.urls.edit) {
          const edit = el("a", "button button--small poll-item__edit", gettext("Edit"));
          edit.href = this.urls.edit.replace("/0/", `/${poll.id}/`);
          edit.target = "_blank";
          edit.rel = "noopener";
          edit.setAttribute("aria-label", fmt(gettext("Edit “%s” (new tab)"), [poll.title]));
          actions.append(edit);
        }
        const submit = button("button button--small button--primary poll-item__submit", gettext("Submit"));
        submit.setAttribute("aria-label", fmt(gettext("Submit “%s” to the room"), [poll.title]));
        actions.append(submit);
        item.append(main, actions);
        return item;
      }),
    );
  }

  async submitPoll(pollId, submit) {
    submit.disabled = true;
    this.panelError("");
    try {
      await this.request("poll.start", { poll_id: pollId });
      this.dialog.close();
      this.toolbarButton.focus();
    } catch (error) {
      const messages = {
        not_found: gettext("This poll is no longer in your repository."),
        poll_busy: error.message || gettext("A poll is still open. Close it first."),
        invalid: error.message || gettext("This poll cannot be submitted."),
      };
      this.panelError(messages[error.code] || describeError(error));
      if (error.code === "not_found") this.loadPolls();
    } finally {
      submit.disabled = false;
    }
  }

  // --- The poll card --------------------------------------------------------------------------

  bindCard() {
    const $ = (selector) => this.card.querySelector(selector);
    this.parts = {
      title: $(".poll-card__title"),
      status: $(".poll-card__status"),
      time: $(".poll-card__time"),
      toggle: $(".poll-card__toggle"),
      body: $(".poll-card__body"),
      announce: $(".poll-card__announce"),
      live: $(".poll-card__live"),
      completion: $(".poll-card__completion"),
      elapsed: $(".poll-card__elapsed"),
      remaining: $(".poll-card__remaining"),
      form: $(".poll-form"),
      questions: $(".poll-form__questions"),
      vote: $(".poll-form__submit"),
      message: $(".poll-card__message"),
      error: $(".poll-card__error"),
      results: $(".poll-results"),
      actions: $(".poll-card__actions"),
      close: $(".poll-card__close-polling"),
      share: $(".poll-card__share"),
      stop: $(".poll-card__stop"),
      save: $(".poll-card__save"),
    };
    const p = this.parts;
    p.toggle.addEventListener("click", () => this.setMinimised(!this.minimised));
    this.card.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.minimised) {
        this.setMinimised(true);
        p.toggle.focus();
      }
    });
    p.form.addEventListener("change", () => this.refreshVoteButton());
    p.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.vote();
    });
    p.close.addEventListener("click", () => this.manage("poll.close", p.close));
    p.share.addEventListener("click", () => this.manage("poll.share_results", p.share));
    p.stop.addEventListener("click", () => this.manage("poll.stop_sharing", p.stop));
    p.save.addEventListener("click", () => this.savePdf());
  }

  // A new run on screen: a fresh form, nothing pending, the card open.
  newRun() {
    this.minimised = false;
    this.pdfPending = false;
    this.timeUpShown = false;
    clearTimeout(this.pdfTimer);
    this.showError("");
    this.buildForm();
  }

  clear() {
    this.run = null;
    this.summary = null;
    this.answered = false;
    this.pdfPending = false;
    clearTimeout(this.pdfTimer);
    clearInterval(this.ticker);
    this.ticker = 0;
    this.card.hidden = true;
    this.card.dataset.view = "";
    this.parts.questions.replaceChildren();
    this.parts.results.replaceChildren();
  }

  announce(text) {
    this.parts.announce.textContent = "";
    // A change of text is what screen readers read out.
    setTimeout(() => (this.parts.announce.textContent = text), 100);
  }

  setMinimised(minimised) {
    this.minimised = minimised;
    this.render();
  }

  showError(text) {
    this.parts.error.textContent = text;
    this.parts.error.hidden = !text;
  }

  buildForm() {
    const run = this.run;
    this.parts.questions.replaceChildren(
      ...run.questions.map((question, index) => {
        const fieldset = el("fieldset", "poll-question");
        fieldset.dataset.questionId = String(question.id);
        const legend = el("legend", "poll-question__text");
        legend.append(el("span", "poll-question__number", `${index + 1}. `), document.createTextNode(question.text));
        fieldset.append(legend);
        if (question.multiple) fieldset.append(el("p", "poll-question__hint", gettext("Choose one or more answers.")));
        for (const choice of question.choices) {
          const label = el("label", "poll-choice");
          const input = el("input");
          input.type = question.multiple ? "checkbox" : "radio";
          input.name = `poll-${run.id}-q${question.id}`;
          input.value = String(choice.id);
          label.append(input, el("span", "poll-choice__text", choice.text));
          fieldset.append(label);
        }
        return fieldset;
      }),
    );
    this.refreshVoteButton();
  }

  chosen() {
    return this.run.questions.map((question) => ({
      question_id: question.id,
      choice_ids: [...this.parts.questions.querySelectorAll(`fieldset[data-question-id="${question.id}"] input:checked`)].map((input) =>
        Number(input.value),
      ),
    }));
  }

  canVote() {
    return Boolean(this.run) && this.run.status === "open" && !this.answered && !this.isStarter && this.remainingSeconds() > 0;
  }

  refreshVoteButton() {
    if (!this.run) return;
    const complete = this.chosen().every((answer) => answer.choice_ids.length > 0);
    this.parts.vote.disabled = !complete || !this.canVote() || this.voting;
  }

  async vote() {
    if (!this.canVote()) return;
    const answers = this.chosen();
    if (answers.some((answer) => !answer.choice_ids.length)) {
      this.showError(gettext("Answer every question."));
      return;
    }
    const runId = this.run.id;
    this.voting = true;
    this.refreshVoteButton();
    this.showError("");
    try {
      await this.request("poll.vote", { run_id: runId, answers });
      if (this.run && this.run.id === runId) this.answered = true;
    } catch (error) {
      if (!this.run || this.run.id !== runId) return;
      if (error.code === "already_voted") this.answered = true;
      if (error.code === "poll_closed") this.run.status = "closed";
      const messages = {
        poll_closed: gettext("This poll is closed: your answers were not recorded."),
        already_voted: gettext("You have already answered this poll."),
        not_found: gettext("This poll is no longer running."),
        invalid: error.message || gettext("Answer every question."),
      };
      this.showError(messages[error.code] || describeError(error));
    } finally {
      this.voting = false;
      this.render();
    }
  }

  async manage(type, control) {
    if (!this.run) return;
    control.disabled = true;
    this.showError("");
    try {
      await this.request(type, { run_id: this.run.id });
    } catch (error) {
      const messages = { not_found: gettext("This poll is no longer running.") };
      this.showError(messages[error.code] || describeError(error));
    } finally {
      control.disabled = false;
    }
  }

  // --- Save to File --------------------------------------------------------------------------

  async savePdf() {
    if (!this.run || this.pdfPending) return;
    const runId = this.run.id;
    this.pdfPending = true;
    this.showError("");
    this.render();
    clearTimeout(this.pdfTimer);
    this.pdfTimer = setTimeout(() => {
      if (!this.pdfPending) return;
      this.pdfPending = false;
      this.showError(gettext("The PDF is taking long. Try again in a moment."));
      this.render();
    }, PDF_PATIENCE_MS);
    try {
      const answer = await this.request("poll.pdf", { run_id: runId });
      if (this.run && this.run.id === runId) this.pdfOutcome(answer);
    } catch (error) {
      if (!this.run || this.run.id !== runId) return;
      this.pdfPending = false;
      const messages = { poll_open: gettext("Close the poll before saving its results."), forbidden: gettext("The results of this poll are not shared.") };
      this.showError(messages[error.code] || describeError(error));
      this.render();
    }
  }

  // The ack of poll.pdf or a later poll.pdf event: download when ready, if asked.
  pdfOutcome({ status, url, error }) {
    if (!this.pdfPending) return;
    if (url) {
      this.pdfPending = false;
      this.download(url);
    } else if (status === "failed") {
      this.pdfPending = false;
      this.showError(fmt(gettext("The PDF could not be made: %s"), [error || gettext("unknown error")]));
    } else {
      return; // still rendering: a poll.pdf event follows
    }
    clearTimeout(this.pdfTimer);
    this.render();
  }

  download(url) {
    const link = el("a");
    link.href = url;
    link.download = `${this.run.title.replace(/[\\/:*?\u0022<>|\u0000-\u001f]+/g, "-").trim() || "poll"}.pdf`;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  }

  // --- Time ----------------------------------------------------------------------------------

  serverNow() {
    return Date.now() - this.skewMs;
  }

  remainingSeconds() {
    const run = this.run;
    if (!run || run.status !== "open") return 0;
    const left = (Date.parse(run.closes_at) - this.serverNow()) / 1000;
    return Math.min(run.duration_seconds, Math.max(0, left)) || 0;
  }

  elapsedSeconds() {
    const run = this.run;
    const end = run.status === "open" || !run.closed_at ? this.serverNow() : Date.parse(run.closed_at);
    return Math.min(run.duration_seconds, Math.max(0, (end - Date.parse(run.started_at)) / 1000)) || 0;
  }

  tick() {
    if (!this.run) return;
    const p = this.parts;
    const open = this.run.status === "open";
    const left = this.remainingSeconds();
    if (open) {
      p.time.textContent = left > 0 ? fmt(gettext("Time left %s"), [clock(left)]) : gettext("Time is up");
      p.time.dateTime = `PT${Math.round(left)}S`;
    } else {
      p.time.textContent = "";
      p.time.removeAttribute("datetime");
    }
    p.time.hidden = !open;
    p.elapsed.textContent = clock(this.elapsedSeconds());
    p.remaining.textContent = open ? clock(left) : "—";
    // The moment time runs out the answers can no longer go (the server refuses them).
    if (open && left <= 0 && !this.timeUpShown) {
      this.timeUpShown = true;
      this.render();
    }
  }

  // --- Rendering -----------------------------------------------------------------------------

  view() {
    if (this.isManager) return "manage";
    return this.run.results_shared ? "results" : "answer";
  }

  render() {
    const run = this.run;
    if (!run) return this.clear();
    const p = this.parts;
    const view = this.view();
    const open = run.status === "open";
    this.card.hidden = false;
    this.card.dataset.view = view;
    this.card.dataset.status = run.status;
    this.card.dataset.runId = String(run.id);
    this.card.dataset.minimised = this.minimised ? "true" : "false";
    p.title.textContent = run.title;
    p.status.textContent = open ? gettext("Open") : gettext("Closed");
    p.status.dataset.status = run.status;
    p.body.hidden = this.minimised;
    p.toggle.setAttribute("aria-expanded", this.minimised ? "false" : "true");
    const toggleLabel = this.minimised ? gettext("Show the poll") : gettext("Minimise the poll");
    p.toggle.setAttribute("aria-label", toggleLabel);
    p.toggle.title = toggleLabel;

    // Answering: everyone but the starter. A closed poll keeps its (disabled) form for
    // those who had not answered; a manager who may answer sees it above the live view.
    const formShown = !this.isStarter && !this.answered && (view === "answer" || (view === "manage" && open));
    p.form.hidden = !formShown;
    for (const input of p.form.querySelectorAll("input")) input.disabled = !this.canVote();
    this.refreshVoteButton();
    p.message.textContent = this.message(view);
    p.message.hidden = !p.message.textContent;

    // Live view and results.
    p.live.hidden = view !== "manage";
    if (view === "manage") {
      const s = this.summary;
      p.completion.replaceChildren(el("span", "poll-card__figure", s ? percent(s.completion) : "—"));
      if (s) p.completion.append(el("span", "poll-card__answered", fmt(gettext("%s of %s answered"), [s.answered, s.eligible])));
    }
    const results = view === "manage" || view === "results" ? this.summary : null;
    p.results.hidden = !results;
    this.renderResults(results);

    // Buttons.
    const manage = view === "manage";
    p.close.hidden = !(manage && open);
    p.share.hidden = !(manage && !open && !run.results_shared);
    p.stop.hidden = !manage;
    p.save.hidden = !(!open && (manage || run.results_shared));
    p.save.disabled = this.pdfPending;
    p.save.setAttribute("aria-busy", this.pdfPending ? "true" : "false");
    p.save.querySelector(".poll-card__save-label").textContent = this.pdfPending ? gettext("Preparing PDF…") : gettext("Save to File");
    p.actions.hidden = this.minimised || [p.close, p.share, p.stop, p.save].every((node) => node.hidden);

    this.tick();
    if (open && !this.ticker) this.ticker = setInterval(() => this.tick(), 1000);
    if (!open && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = 0;
    }
  }

  message(view) {
    const open = this.run.status === "open";
    const thanks = gettext("Thank you — your answers are recorded.");
    if (view === "results") return "";
    if (view === "manage") return !this.isStarter && this.answered ? thanks : "";
    if (this.isStarter) return gettext("You started this poll: the others answer it.");
    if (this.answered) return thanks; // the status badge says when it closed
    if (open) return "";
    return this.run.closed_by === "timer" ? gettext("Poll closed: the time is up.") : gettext("Poll closed");
  }

  renderResults(summary) {
    const list = this.parts.results;
    if (!summary) {
      list.replaceChildren();
      return;
    }
    list.replaceChildren(
      ...summary.questions.map((question, index) => {
        const section = el("section", "poll-result");
        section.dataset.questionId = String(question.id);
        const heading = el("h3", "poll-result__question", `${index + 1}. ${question.text}`);
        section.append(heading);
        if (question.multiple) section.append(el("p", "poll-question__hint", gettext("Several answers possible.")));
        const choices = el("ul", "poll-result__choices");
        for (const choice of question.choices) {
          const item = el("li", "poll-result__choice");
          item.dataset.choiceId = String(choice.id);
          const line = el("div", "poll-result__line");
          const count = el("span", "poll-result__count", fmt(ngettext("%s vote", "%s votes", choice.count), [choice.count]));
          count.dataset.count = String(choice.count);
          line.append(el("span", "poll-result__text", choice.text), count, el("span", "poll-result__percent", percent(choice.percent)));
          const bar = el("div", "poll-bar");
          bar.setAttribute("aria-hidden", "true");
          const fill = el("span", "poll-bar__fill");
          fill.style.width = `${Math.min(100, Math.max(0, Number(choice.percent) || 0))}%`;
          bar.append(fill);
          item.append(line, bar);
          if (choice.voters && choice.voters.length) item.append(el("p", "poll-result__voters", choice.voters.join(", ")));
          choices.append(item);
        }
        section.append(choices);
        return section;
      }),
    );
  }
}

// The room's polls feature (features.js): built the first time the room needs it.
export function setup(room) {
  const dialog = document.getElementById("polls-panel");
  const polls = new Polls({
    toolbarButton: document.getElementById("polls-button"),
    dialog,
    card: document.getElementById("poll-card"),
    selfId: room.selfId,
    role: room.self ? room.self.role : room.config.role,
    request: room.request,
    urls: { edit: dialog.dataset.editUrl },
  });
  return {
    snapshot: (run) => polls.snapshot(run),
    onEvent: (type, body) => polls.onEvent(type, body),
    setSelf: (self) => polls.setRole(self.role),
    open: () => polls.openPanel(),
    get state() {
      return polls.state;
    },
  };
}

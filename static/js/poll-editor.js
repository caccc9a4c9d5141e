// The poll editor: "Add a question" and "Remove" for the questions formset. Without
// JavaScript the page still works: one empty question to fill, and a "Remove" checkbox.
const container = document.getElementById("question-forms");
const template = document.getElementById("question-template");
const addButton = document.getElementById("question-add");
const PREFIX = "questions";
const total = document.querySelector(`input[name="${PREFIX}-TOTAL_FORMS"]`);
const initial = Number.parseInt(document.querySelector(`input[name="${PREFIX}-INITIAL_FORMS"]`).value, 10) || 0;
const maxQuestions = Number.parseInt(document.querySelector(`input[name="${PREFIX}-MAX_NUM_FORMS"]`).value, 10) || 20;
// Removed saved questions still count in TOTAL_FORMS, up to the formset's absolute maximum.
const maxForms = Number.parseInt(container.dataset.maxForms, 10) || maxQuestions;
const INDEXED = new RegExp(`${PREFIX}-(\\d+|__prefix__)-`, "g");
const ATTRIBUTES = ["name", "id", "for", "aria-describedby"];

const forms = () => [...container.querySelectorAll("[data-question-form]")];
const deleteBox = (form) => form.querySelector('input[name$="-DELETE"]');
const isRemoved = (form) => Boolean(deleteBox(form)?.checked);

// Forms are numbered 0..n-1 in page order, as Django's formset expects. Saved questions
// (the first `initial` forms) are only marked for deletion, so their numbers never move.
function renumber() {
  forms().forEach((form, index) => {
    for (const element of form.querySelectorAll("[name], [id], [for], [aria-describedby]")) {
      for (const attribute of ATTRIBUTES) {
        const value = element.getAttribute(attribute);
        if (value) element.setAttribute(attribute, value.replace(INDEXED, `${PREFIX}-${index}-`));
      }
    }
  });
  total.value = String(forms().length);
  const shown = forms().filter((form) => !isRemoved(form));
  shown.forEach((form, position) => {
    form.querySelector(".question-form__number").textContent = String(position + 1);
  });
  addButton.disabled = shown.length >= maxQuestions || forms().length >= maxForms;
  for (const form of shown) form.querySelector(".question-remove").hidden = shown.length <= 1;
}

function enhance(form) {
  // The Remove button replaces the checkbox; a form removed before a failed submit stays hidden.
  form.querySelector(".question-form__delete")?.setAttribute("hidden", "");
  if (isRemoved(form)) form.hidden = true;
}

addButton.addEventListener("click", () => {
  if (addButton.disabled) return;
  const form = template.content.firstElementChild.cloneNode(true);
  container.append(form);
  enhance(form);
  renumber();
  form.querySelector('input[type="text"]').focus();
});

container.addEventListener("click", (event) => {
  const remove = event.target.closest(".question-remove");
  if (!remove) return;
  const form = remove.closest("[data-question-form]");
  if (forms().indexOf(form) < initial) {
    deleteBox(form).checked = true;
    form.hidden = true;
  } else {
    form.remove();
  }
  renumber();
  addButton.focus();
});

forms().forEach(enhance);
addButton.hidden = false;
renumber();

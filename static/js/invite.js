// Invite people: add and remove rows of the formset (name + e-mail).
const rows = document.getElementById("invite-rows");
const template = document.getElementById("invite-row-template");
const addButton = document.getElementById("invite-add");
const total = document.querySelector('input[name="invite-TOTAL_FORMS"]');
const maxRows = Number.parseInt(document.querySelector('input[name="invite-MAX_NUM_FORMS"]').value, 10) || 50;
const PREFIX = /invite-(\d+|__prefix__)-/g;

// Rows are numbered 0..n-1 as Django's formset expects; renumber after each change.
function renumber() {
  [...rows.children].forEach((row, index) => {
    for (const element of row.querySelectorAll("[name], [id], [for], [aria-describedby]")) {
      for (const attribute of ["name", "id", "for", "aria-describedby"]) {
        const value = element.getAttribute(attribute);
        if (value) element.setAttribute(attribute, value.replace(PREFIX, `invite-${index}-`));
      }
    }
  });
  total.value = String(rows.children.length);
  const count = rows.children.length;
  addButton.disabled = count >= maxRows;
  for (const remove of rows.querySelectorAll(".invite-remove")) remove.hidden = count <= 1;
}

addButton.addEventListener("click", () => {
  if (rows.children.length >= maxRows) return;
  const row = template.content.firstElementChild.cloneNode(true);
  rows.append(row);
  renumber();
  row.querySelector("input").focus();
});

rows.addEventListener("click", (event) => {
  const remove = event.target.closest(".invite-remove");
  if (!remove || rows.children.length <= 1) return;
  remove.closest(".invite-row").remove();
  renumber();
  rows.querySelector("input")?.focus();
});

addButton.hidden = false;
renumber();

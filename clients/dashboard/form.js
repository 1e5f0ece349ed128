// The private-stream form: turns its text fields into a subscribe operation, and shows errors
// next to the field they name. Ranges are the server's to check (so what the page shows is the
// server's own message); the page only refuses text that is not a number at all, since JSON
// cannot carry it.

import { INTEGER_FIELDS, MODEL_PARAMS, PRIVATE_FIELDS } from "./wire.js";

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const INTEGER = /^[-+]?\d+$/;

/** The fields a stream of this model takes (its own, then interval, seed and periods). */
export function fieldsOf(model) {
  return [...(MODEL_PARAMS[model] ?? MODEL_PARAMS.gbm), ...PRIVATE_FIELDS.slice(-3)];
}

/**
 * Read fields (name -> text) into [op, raw, errors]: only the chosen model's fields are read
 * (another model's keep their text but are not sent); blank fields are left out (the
 * server's defaults apply); integers are sent as their digits (raw), so a seed above 2**53
 * stays exact.
 */
export function readFields(fields) {
  const op = { op: "subscribe" };
  const raw = {};
  const errors = {};
  const model = (fields.model ?? "").trim() || "gbm";
  if (model !== "gbm") op.model = model;
  for (const name of fieldsOf(model)) {
    const text = (fields[name] ?? "").trim();
    if (text === "") continue;
    if (INTEGER_FIELDS.includes(name)) {
      if (INTEGER.test(text)) raw[name] = text.replace(/^\+/, "").replace(/^(-?)0+(?=\d)/, "$1");
      else errors[name] = `${name} must be a whole number, got ${JSON.stringify(text)}`;
    } else if (NUMBER.test(text)) {
      op[name] = Number(text);
    } else {
      errors[name] = `${name} must be a number, got ${JSON.stringify(text)}`;
    }
  }
  return [op, raw, errors];
}

export class StreamForm {
  /**
   * @param {HTMLFormElement} form
   * @param {(op: object, raw: object, fields: object) => void} onSubmit
   */
  constructor(form, onSubmit) {
    this.form = form;
    this.formError = form.querySelector("[data-error-for='form']");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.clearErrors();
      const fields = this.values();
      const [op, raw, errors] = readFields(fields);
      if (Object.keys(errors).length) {
        for (const [field, message] of Object.entries(errors)) this.showError(field, message);
        return;
      }
      onSubmit(op, raw, fields);
    });
    form.addEventListener("input", (event) => {
      if (event.target.name) this.clearError(event.target.name);
    });
    this.model = form.elements.namedItem("model");
    this.model.addEventListener("change", () => this.showModel());
    this.showModel();
  }

  /** Show the chosen model's fields only (each field says which models take it). */
  showModel() {
    const model = this.model.value;
    for (const field of this.form.querySelectorAll(".field[data-models]")) {
      field.hidden = !field.dataset.models.split(" ").includes(model);
    }
  }

  values() {
    const fields = { model: this.model.value };
    for (const name of PRIVATE_FIELDS) fields[name] = this.form.elements.namedItem(name).value;
    return fields;
  }

  setValues(fields) {
    for (const [name, value] of Object.entries(fields)) {
      if (this.form.elements.namedItem(name)) this.form.elements.namedItem(name).value = value;
    }
    this.showModel();
  }

  setBusy(busy) {
    this.form.querySelector("button[type=submit]").disabled = busy;
  }

  /** Show a message by its field, or above the button when the field is not in the form. */
  showError(field, message) {
    const input = field ? this.form.elements.namedItem(field) : null;
    const slot = input ? this.form.querySelector(`[data-error-for='${field}']`) : this.formError;
    slot.textContent = message;
    slot.hidden = false;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.closest(".field").classList.add("invalid");
    }
  }

  /** An `error` event of the server: by its field when the form has that field. */
  showServerError(event) {
    const known = event.field && this.form.elements.namedItem(event.field);
    const text = known ? event.message : `${event.code}: ${event.message}`;
    this.showError(known ? event.field : null, text);
    if (known) this.form.elements.namedItem(event.field).focus();
  }

  clearError(field) {
    const slot = this.form.querySelector(`[data-error-for='${field}']`);
    if (slot) {
      slot.textContent = "";
      slot.hidden = true;
    }
    const input = this.form.elements.namedItem(field);
    if (input) {
      input.removeAttribute("aria-invalid");
      input.closest(".field").classList.remove("invalid");
    }
  }

  clearErrors() {
    for (const name of ["model", ...PRIVATE_FIELDS]) this.clearError(name);
    this.formError.textContent = "";
    this.formError.hidden = true;
  }
}

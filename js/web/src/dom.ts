/**
 * DOM helpers for every screen: elements built with DOM calls and `textContent`
 * only (never `innerHTML`), so the page runs under its content security policy
 * (`script-src 'self'; style-src 'self'`: no inline script, no inline style).
 */

type Child = Node | string | null | undefined | false;

/** An element with text or children, and a class. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { text?: string; className?: string; id?: string } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.text !== undefined) node.textContent = options.text;
  if (options.className !== undefined) node.className = options.className;
  if (options.id !== undefined) node.id = options.id;
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** A `<button type="button">` that calls `action`. */
export function button(text: string, action: () => void, className?: string): HTMLButtonElement {
  const node = el("button", { text, ...(className === undefined ? {} : { className }) });
  node.type = "button";
  node.addEventListener("click", action);
  return node;
}

/** A labelled input: the label's text names it for assistive technology. */
export function field(
  label: string,
  input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement,
  hint?: string,
): HTMLElement {
  const id = `f-${Math.random().toString(36).slice(2, 10)}`;
  input.id = id;
  const labelNode = el("label", { text: label });
  labelNode.htmlFor = id;
  const wrap = el("div", { className: "field" }, labelNode, input);
  if (hint !== undefined) {
    const hintNode = el("p", { text: hint, className: "hint", id: `${id}-hint` });
    input.setAttribute("aria-describedby", hintNode.id);
    wrap.append(hintNode);
  }
  return wrap;
}

/** An `<input>` of `type` with a name (for tests and autofill hints). */
export function input(type: string, name: string, autocomplete = "off"): HTMLInputElement {
  const node = el("input");
  node.type = type;
  node.name = name;
  node.autocomplete = autocomplete as AutoFill;
  return node;
}

/** A form whose submit (Enter in a field, or its submit button) calls `submit`, never navigating. */
export function form(submit: () => void, ...children: Child[]): HTMLFormElement {
  const node = el("form", {}, ...children);
  node.noValidate = true;
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  return node;
}

/** A submit button for `form`. */
export function submitButton(text: string): HTMLButtonElement {
  const node = el("button", { text });
  node.type = "submit";
  return node;
}

/** A live region that says `text` politely (status lines, errors). */
export function status(className = "status"): HTMLElement {
  const node = el("p", { className });
  node.setAttribute("role", "status");
  node.setAttribute("aria-live", "polite");
  return node;
}

/** Replace every child of `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  for (const child of children) if (child !== null && child !== undefined && child !== false) parent.append(child);
}

/** A short, kind message for an error from the SDK (never a stack). */
export function describe(error: unknown): string {
  if (error instanceof Error && error.message) return error.message;
  return String(error);
}

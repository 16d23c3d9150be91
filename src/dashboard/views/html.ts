/**
 * HTML built with a tagged template that escapes every interpolated value: `html\`<td>${label}</td>\``
 * cannot inject markup whatever `label` holds. Only values that are already SafeHtml (the result of
 * another html`` or of raw() on a constant) pass through as they are.
 */
export class SafeHtml {
  constructor (readonly value: string) {}
  toString (): string { return this.value }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for element content and for quoted attribute values. */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => ESCAPES[c] as string)
}

/** Marks a constant string (a stylesheet, a fixed snippet) as HTML. Never pass data through it. */
export function raw (text: string): SafeHtml {
  return new SafeHtml(text)
}

function render (value: unknown): string {
  if (value instanceof SafeHtml) return value.value
  if (value === undefined || value === null || value === false) return ''
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function html (strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? ''
  values.forEach((value, i) => { out += render(value) + (strings[i + 1] ?? '') })
  return new SafeHtml(out)
}

// Two helps on every hosted page (README "Accessibility"), from a static file (strict CSP, no
// inline script); without script the pages work as before.
// 1. "Show password": a toggle button after each password field (NIST SP 800-63B-4 §3.1.1.2), its
//    label translated by the page (the #a11y-strings element partials/foot.ejs renders). The label
//    stays the same and aria-pressed says the state (a toggle's label must not change with its
//    state: WAI-ARIA APG "Button"). A form is sent with its fields hidden again, so that password
//    managers see password fields.
// 2. Focus to the error: a page that shows a refusal puts focus on the first field marked
//    aria-invalid, else on the control its message describes, else on the message itself, so a
//    keyboard or screen reader user lands where the problem is. A page without an error, or one
//    where something already has focus, is left alone.
(function () {
  const strings = document.getElementById('a11y-strings');
  const visible = (el) => !el.closest('[hidden]') && el.getClientRects().length > 0;

  let n = 0;
  for (const input of document.querySelectorAll('input[type=password]')) {
    if (!input.id) input.id = `a11y-secret-${++n}`;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'reveal';
    const pin = input.inputMode === 'numeric' || input.name === 'pin' || input.name === 'repeat';
    button.textContent = (pin ? strings?.dataset.showPin : strings?.dataset.showPassword) || (pin ? 'Show PIN' : 'Show password');
    if (strings?.lang) button.lang = strings.lang;
    button.setAttribute('aria-pressed', 'false');
    button.setAttribute('aria-controls', input.id);
    button.addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      button.setAttribute('aria-pressed', String(show));
    });
    input.insertAdjacentElement('afterend', button);
    input.form?.addEventListener('submit', () => {
      input.type = 'password';
      button.setAttribute('aria-pressed', 'false');
    });
  }

  // autofocus may already have run while this file loaded: that is the page's choice, not the person's
  const focused = document.activeElement;
  if (focused && focused !== document.body && focused !== document.documentElement && !focused.hasAttribute('autofocus')) return;
  const field = [...document.querySelectorAll('[aria-invalid="true"]')].find(visible);
  if (field) {
    field.focus();
    return;
  }
  const message = [...document.querySelectorAll('[role="alert"]')]
    .find((el) => (el.matches('.error') || el.querySelector('.error')) && visible(el) && el.textContent.trim());
  if (!message) return;
  const control = message.id
    ? [...document.querySelectorAll('[aria-describedby]')].find((el) => el.getAttribute('aria-describedby').split(/\s+/).includes(message.id) && visible(el))
    : undefined;
  if (control) {
    control.focus();
    return;
  }
  if (!message.hasAttribute('tabindex')) message.setAttribute('tabindex', '-1');
  message.focus();
})();

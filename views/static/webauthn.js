// Runs the browser's WebAuthn ceremony for a form marked data-webauthn="authenticate" (sign-in)
// or "register" (account page): reads the server's options, asks the authenticator, puts its
// answer (JSON) into the form's hidden field, and submits the form (after views/static/device-key.js's
// work, when the form has "Keep trusting this device"). No inline script (CSP). Its
// messages are in the page's language (the #script-strings element partials/foot.ejs renders); an
// English page also shows the browser's or the server's own English detail, other languages their sentence.
(function () {
  const word = (name, english) => document.getElementById('script-strings')?.dataset[name] || english;
  const english = () => (document.getElementById('script-strings')?.lang || 'en') === 'en';
  const form = document.querySelector('form[data-webauthn]');
  const start = document.getElementById('webauthn-start');
  if (!form || !start) return;
  const error = document.getElementById('webauthn-error');
  const show = (message) => { if (error) { error.textContent = message; error.hidden = false; } };
  start.addEventListener('click', async () => {
    start.disabled = true;
    try {
      const kind = form.dataset.webauthn;
      const { startAuthentication, startRegistration } = window.SimpleWebAuthnBrowser;
      let optionsJSON;
      if (kind === 'register') {
        const res = await fetch(form.dataset.optionsUrl, { method: 'POST', headers: { 'csrf-token': form.elements._csrf.value, accept: 'application/json' }, credentials: 'same-origin' });
        if (!res.ok) {
          const expired = new Error(english() && (await res.json().catch(() => ({}))).error_description || word('pageExpired', 'The page has expired. Reload it and try again.'));
          expired.said = true;
          throw expired;
        }
        optionsJSON = await res.json();
      } else {
        optionsJSON = JSON.parse(document.getElementById('webauthn-options').textContent);
      }
      const answer = kind === 'register' ? await startRegistration({ optionsJSON }) : await startAuthentication({ optionsJSON });
      form.elements[kind === 'register' ? 'response' : 'code'].value = JSON.stringify(answer);
      // "Keep trusting this device" (data-device-key): send it as a submit event, so that
      // device-key.js finishes its key and signature first (it holds the form, briefly at most) or
      // empties them when the box is not ticked; a browser without WebCrypto goes at once
      if (form.dataset.deviceKey && form.requestSubmit) form.requestSubmit();
      else form.submit();
    } catch (err) {
      start.disabled = false;
      show(err && err.name === 'NotAllowedError' ? word('keyNotUsed', 'The security key was not used (cancelled or timed out). Try again.') : err && err.said ? err.message : (english() && err && err.message) || word('keyFailed', 'The security key did not work.'));
    }
  });
}());

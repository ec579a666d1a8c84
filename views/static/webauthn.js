// Runs the browser's WebAuthn ceremony for a form marked data-webauthn="authenticate" (sign-in)
// or "register" (account page): reads the server's options, asks the authenticator, puts its
// answer (JSON) into the form's hidden field, and submits the form. No inline script (CSP).
(function () {
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
        if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error_description || 'The page has expired. Reload it and try again.');
        optionsJSON = await res.json();
      } else {
        optionsJSON = JSON.parse(document.getElementById('webauthn-options').textContent);
      }
      const answer = kind === 'register' ? await startRegistration({ optionsJSON }) : await startAuthentication({ optionsJSON });
      form.elements[kind === 'register' ? 'response' : 'code'].value = JSON.stringify(answer);
      form.submit();
    } catch (err) {
      start.disabled = false;
      show(err && err.name === 'NotAllowedError' ? 'The security key was not used (cancelled or timed out). Try again.' : (err && err.message) || 'The security key did not work.');
    }
  });
}());

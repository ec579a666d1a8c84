// Passkeys on the sign-in pages (no inline script: CSP). The sign-in page offers the account's
// passkeys in the email field's autofill (WebAuthn conditional mediation) and behind "Sign in with
// a passkey", and notes in a cookie whether this browser can make a passkey (the offer after a
// password sign-in). The offer page shows "Create a passkey" only where one can be made; "Not now"
// works without script. Each ceremony's answer (JSON) goes into its form's hidden field. Its messages
// are in the page's language (the #script-strings element partials/foot.ejs renders); an English
// page also shows the browser's or the server's own English detail, other languages their sentence.
(function () {
  const word = (name, english) => document.getElementById('script-strings')?.dataset[name] || english;
  const english = () => (document.getElementById('script-strings')?.lang || 'en') === 'en';
  const detail = (err, name, fallback) => (english() && err && err.message) || word(name, fallback);
  const lib = window.SimpleWebAuthnBrowser;
  const supported = !!lib && lib.browserSupportsWebAuthn();
  const show = (el, message) => { el.textContent = message; el.hidden = false; };
  const cancelled = (err) => err && err.name === 'NotAllowedError';
  async function optionsFor(form) {
    const res = await fetch(form.dataset.optionsUrl, { method: 'POST', headers: { 'csrf-token': form.elements._csrf.value, accept: 'application/json' }, credentials: 'same-origin' });
    if (!res.ok) {
      const expired = new Error(english() && (await res.json().catch(() => ({}))).error_description || word('pageExpired', 'The page has expired. Reload it and try again.'));
      expired.said = true;
      throw expired;
    }
    return res.json();
  }

  const signIn = document.getElementById('passkey-form');
  if (signIn && supported) {
    const secure = location.protocol === 'https:' ? '; secure' : '';
    lib.platformAuthenticatorIsAvailable().then((yes) => {
      document.cookie = `tessera.passkey-capable=${yes ? '1' : '0'}; path=/; max-age=31536000; samesite=lax${secure}`;
    });
    const button = document.getElementById('passkey-start');
    const error = document.getElementById('passkey-error');
    signIn.hidden = false;
    // one challenge for the autofill and the button: the button's request replaces the autofill's
    let options;
    const ready = () => (options ??= optionsFor(signIn).catch((err) => { options = undefined; throw err; }));
    const submit = (answer) => { signIn.elements.response.value = JSON.stringify(answer); signIn.submit(); };
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        submit(await lib.startAuthentication({ optionsJSON: await ready() }));
      } catch (err) {
        button.disabled = false;
        show(error, cancelled(err) ? word('passkeyNotUsed', 'No passkey was used (cancelled or timed out). Try again, or sign in with your email and password.') : err && err.said ? err.message : detail(err, 'passkeyFailed', 'The passkey did not work. Sign in with your email and password.'));
      }
    });
    lib.browserSupportsWebAuthnAutofill().then(async (yes) => {
      if (!yes) return;
      signIn.dataset.autofill = 'started';
      try {
        submit(await lib.startAuthentication({ optionsJSON: await ready(), useBrowserAutofill: true }));
      } catch {
        // the button took over, or the autofill was dismissed: nothing to say
      }
    });
  }

  const offer = document.getElementById('passkey-offer-form');
  if (offer) {
    const unable = () => { document.getElementById('passkey-offer-unable').hidden = false; };
    if (!supported) return unable();
    lib.platformAuthenticatorIsAvailable().then((yes) => { if (yes) offer.hidden = false; else unable(); });
    const button = document.getElementById('passkey-create');
    const error = document.getElementById('passkey-offer-error');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const answer = await lib.startRegistration({ optionsJSON: await optionsFor(offer) });
        offer.elements.response.value = JSON.stringify(answer);
        offer.submit();
      } catch (err) {
        button.disabled = false;
        show(error, cancelled(err) ? word('passkeyNotCreated', 'No passkey was created (cancelled or timed out). Try again, or choose "Not now".') : err && err.said ? err.message : detail(err, 'passkeyCreateFailed', 'The passkey could not be created. Choose "Not now" to continue.'));
      }
    });
  }
}());

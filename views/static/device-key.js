// Device-bound trust (no inline script: CSP). This browser's device key is an ECDSA P-256 key pair
// made by WebCrypto with a non-extractable private key and kept in IndexedDB (the CryptoKey
// objects themselves; the private key never leaves the browser). Forms say what they need:
//   data-device-key="prove": sign the form's device_challenge with the key, when there is one
//     (the sign-in page: a trusted device skips the routine second factor only with it);
//   data-device-key="bind": when "Trust this device" is ticked (or the form has no such box), make
//     the key if there is none, send its public key (JWK) and, if the form has a challenge, sign it.
// Without WebCrypto or IndexedDB, or when anything fails, the form goes without: the server then
// asks for the second factor instead of trusting the cookie alone. The form says when the work is
// done (data-device-key-ready="yes"). A script that sends such a form itself (webauthn.js, once the
// security key answered) uses requestSubmit(), so the form waits here for the work as a click would.
(function () {
  const forms = document.querySelectorAll('form[data-device-key]');
  if (!forms.length) return;
  const DB = 'tessera-device';
  const STORE = 'keys';
  const NAME = 'device';
  const supported = !!(window.crypto && window.crypto.subtle && window.indexedDB && window.TextEncoder);

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  function openDb() {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    return request(req);
  }
  async function storedKey() {
    const db = await openDb();
    try {
      return await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(NAME));
    } finally {
      db.close();
    }
  }
  async function makeKey() {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const db = await openDb();
    try {
      await request(db.transaction(STORE, 'readwrite').objectStore(STORE).put({ privateKey: pair.privateKey, publicKey: pair.publicKey }, NAME));
    } finally {
      db.close();
    }
    return pair;
  }
  function base64url(buffer) {
    let text = '';
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  // ES256 over the challenge's UTF-8 bytes; WebCrypto gives raw r||s (64 bytes)
  async function sign(pair, challenge) {
    return base64url(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(challenge)));
  }
  async function publicJwk(pair) {
    const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    return JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y });
  }
  const set = (form, name, value) => { if (form.elements[name]) form.elements[name].value = value; };

  async function fill(form) {
    const challenge = form.elements.device_challenge ? form.elements.device_challenge.value : '';
    if (form.dataset.deviceKey === 'prove') {
      const pair = await storedKey();
      if (pair && pair.privateKey && challenge) set(form, 'device_signature', await sign(pair, challenge));
      return;
    }
    const pair = (await storedKey()) || (await makeKey());
    set(form, 'device_key', await publicJwk(pair));
    if (challenge) set(form, 'device_signature', await sign(pair, challenge));
  }

  // The work is done ahead (when the page opens, or when the box is ticked), so the form goes at
  // once; a form sent before it finished waits for it (never long).
  for (const form of forms) {
    if (!supported) continue;
    const box = form.dataset.deviceKey === 'bind' ? form.elements.trust : undefined;
    let ready;
    const prepare = () => (ready ??= fill(form).catch(() => undefined).then(() => { form.dataset.deviceKeyReady = 'yes'; }));
    const wanted = () => !box || box.checked;
    if (box) box.addEventListener('change', () => { if (box.checked) prepare(); });
    if (wanted()) prepare();
    let sending = false;
    form.addEventListener('submit', (event) => {
      if (!wanted()) {
        // not trusting this browser: no key goes with the form
        set(form, 'device_key', '');
        set(form, 'device_signature', '');
        return;
      }
      if (form.dataset.deviceKeyReady === 'yes' || sending || event.defaultPrevented) return;
      event.preventDefault();
      sending = true;
      const late = new Promise((resolve) => setTimeout(resolve, 3000));
      Promise.race([prepare(), late]).then(() => form.submit());
    });
  }
})();

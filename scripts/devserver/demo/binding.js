// The demo page's "Bound to" line: whether the session is bound to this
// browser's DPoP key (RFC 9449), and the key's RFC 7638 thumbprint, which
// is the access token's cnf.jkt. The key itself never shows: it is
// non-extractable and lives in IndexedDB.

/**
 * @param {HTMLElement} el the <dd> to fill
 * @param {{ signedIn: boolean, tokenType: string, keyThumbprint: string }} state the client's state
 */
export function renderBinding(el, state) {
  if (!state.signedIn) {
    el.textContent = '';
    return;
  }
  if (state.tokenType === 'DPoP' && state.keyThumbprint) {
    el.textContent = `DPoP key ${state.keyThumbprint}`;
    el.title = 'The session and its access tokens are bound to this browser\u2019s DPoP key (RFC 9449): ' +
      'the thumbprint is the token\u2019s cnf.jkt; the private key cannot be exported, so a copied token is useless elsewhere.';
    el.className = 'bound';
  } else {
    el.textContent = 'nothing: a bearer token (the API did not bind it to a key)';
    el.title = 'Whoever holds this access token can use it until it expires.';
    el.className = 'unbound';
  }
}

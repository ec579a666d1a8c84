// Copy and print buttons for what a person must keep (recovery codes, an authenticator key); no
// inline script (CSP). The buttons stay hidden without script. A button with data-copy="<id>"
// copies that element's data-copy-text, or its text; data-print prints the page (the print style
// keeps only the content). The outcome is said in the button's status element (data-status="<id>"),
// in the page's language (the #script-strings element partials/foot.ejs renders; English without it).
(function () {
  const word = (name, english) => document.getElementById('script-strings')?.dataset[name] || english;
  for (const button of document.querySelectorAll('button[data-copy], button[data-print]')) {
    button.hidden = false;
    const status = document.getElementById(button.dataset.status || '');
    const say = (text) => { if (status) status.textContent = text; };
    button.addEventListener('click', async () => {
      if (button.dataset.print !== undefined) {
        window.print();
        return;
      }
      const source = document.getElementById(button.dataset.copy);
      const text = source ? (source.dataset.copyText || source.innerText).trim() : '';
      try {
        if (!text || !navigator.clipboard) throw new Error('no clipboard');
        await navigator.clipboard.writeText(text);
        say(word('copied', 'Copied.'));
      } catch {
        say(word('copyFailed', 'Could not copy: select the text and copy it yourself.'));
      }
    });
  }
})();

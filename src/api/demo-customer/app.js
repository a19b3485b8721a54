/* global document, location, URLSearchParams */
// Loads /widget.js with the channel key from ?key= — what a business's page does with a static script tag.
(() => {
  'use strict';
  const key = new URLSearchParams(location.search).get('key') || '';
  const status = document.getElementById('status');
  document.getElementById('origin').textContent = location.origin;
  document.getElementById('tag').textContent = `<script src="${location.origin}/widget.js" data-channel-key="${key || 'wc_…'}" async></script>`;
  if (!/^wc_[A-Za-z0-9_-]{1,64}$/.test(key)) {
    status.className = 'warn';
    status.textContent = 'No channel key: add ?key=<the web channel\'s publicKey> to this page\'s address.';
    return;
  }
  const tag = document.createElement('script');
  tag.src = '/widget.js';
  tag.async = true;
  tag.dataset.channelKey = key;
  tag.dataset.open = 'true';
  document.body.appendChild(tag);
  status.textContent = 'The chat button is at the bottom right.';
})();

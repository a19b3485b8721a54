// Run before `npm start` and `npm test` (package.json "prestart"/"pretest"): Kefu's TypeScript runs on Node's
// own type stripping, which an older Node cannot even parse, so say so in one line instead of a stack trace.
// Plain old JavaScript on purpose: it must run on any Node a user may still have.
'use strict';
/* global require, __dirname, process */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, so that an old Node runs it */
var fs = require('fs');
var path = require('path');

var needed = '22.18.0';
try {
  var engines = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).engines;
  var m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec((engines && engines.node) || '');
  if (m) needed = m[1] + '.' + m[2] + '.' + (m[3] || '0');
} catch {
  // package.json unreadable: keep the built-in minimum.
}

function parts(v) {
  return String(v).replace(/^v/, '').split('.').map(function (n) { return parseInt(n, 10) || 0; });
}

function atLeast(have, want) {
  var a = parts(have);
  var b = parts(want);
  for (var i = 0; i < 3; i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0);
  }
  return true;
}

var have = process.version;
if (!atLeast(have, needed)) {
  var major = parts(needed)[0] < 24 ? 24 : parts(needed)[0];
  process.stderr.write(
    'Kefu needs Node.js ' + needed + ' or newer, but this is Node.js ' + String(have).replace(/^v/, '') + ' (' + process.execPath + '): ' +
      'install Node.js ' + major + ' (nvm install ' + major + ', or npm install -g --prefix /opt/node' + major + ' node@' + major +
      ' and put /opt/node' + major + '/bin first in PATH) and run it again.\n',
  );
  process.exit(1);
}

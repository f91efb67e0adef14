#!/usr/bin/env node
// Starts dynalite (a DynamoDB stand-in) for the local tests and scripts/dev.
//
// Unlike dynalite's own CLI, this listens on a port chosen by the OS when
// DYNALITE_PORT is 0 or unset (the CLI treats --port 0 as its default 4567),
// so concurrent runs never race for a port. It prints one line that
// scripts/localaws waits for:
//   dynalite listening on http://127.0.0.1:<port>
// Data is kept in memory, or on disk (LevelDB) in DYNALITE_PATH when set.
'use strict'

const dynalite = require('dynalite')

const host = process.env.DYNALITE_HOST || '127.0.0.1'
const port = Number(process.env.DYNALITE_PORT || 0)

const options = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }
if (process.env.DYNALITE_PATH) options.path = process.env.DYNALITE_PATH

const server = dynalite(options)

server.on('error', (err) => {
  console.error('dynalite failed: %s', err && err.stack || err)
  process.exit(1)
})

server.listen(port, host, () => {
  console.log('dynalite listening on http://%s:%d', host, server.address().port)
})

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    server.close(() => process.exit(0))
    setTimeout(() => process.exit(0), 1000).unref()
  })
}

#!/usr/bin/env node
// dynalite's command line, surviving clients that hang up mid-request.
//
// dynalite 4.0.0 rethrows a request stream's errors (index.js:
// `req.on('error', function (err) { throw err })`), so one client that closes
// its connection before sending the whole body ("aborted") ends the server for
// everyone. Such an error concerns only that request, which is gone: it is
// logged and ignored. Any other uncaught error still ends the process.
process.on('uncaughtException', function (err) {
  if (err && (err.message === 'aborted' || err.code === 'ECONNRESET')) {
    console.error('dynalite: a client left mid-request (%s); still serving', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
require('dynalite/cli.js')

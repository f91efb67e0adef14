// Package docs keeps the project's Markdown documents usable: its test
// checks that every relative link and #anchor in them resolves, that
// README.md stays short enough to read in ten minutes (at most
// [MaxReadmeLines] lines) with a contents list, that every document
// under functions/, shared/, infra/ and scripts/ has one too, and that
// .ci/run runs the test command README.md gives. Nothing here ships in a
// function's zip.
package docs

// MaxReadmeLines is the most lines README.md may have (issue 19: the
// reference material lives in the documents it links).
const MaxReadmeLines = 400

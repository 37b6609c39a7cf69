// Package fuzz holds the fuzz tests of poller; it has no code of its own.
//
// Each target decodes its input into calls on the public API, makes the same calls on a
// reference model (model_test.go) that encodes the contract (CONTRACT.md at the module
// root), and fails at the first step where the two disagree:
//
//   - FuzzFdSet: Set, Clear, IsSet, Zero, Count and Select on an FdSet with any int,
//     against a map: Set gives ErrFdTooLarge at FdSetSize and above and an error
//     wrapping EBADF below 0, out-of-range fds are no-ops, nothing panics.
//   - FuzzFlags: any uint32 as Flags to Add and Modify on every backend: success or
//     exactly the sentinel the contract names (ErrInvalidFlags, ErrUnsupported), a
//     registration that behaves as its flags say, and a poller that still reports a
//     socket readable afterwards.
//   - FuzzOps: Add, Modify, Delete, Wait, Wake and Close mixed with writes, reads,
//     shutdowns and closes on a pool of AF_UNIX socketpairs, on every backend. The
//     model tracks each socket's kernel state and each registration (level,
//     edge-triggered, one-shot; Readable, Writable, Priority) and says exactly which fds
//     each Wait reports, with which flags, and which error each call gives. The pool
//     sends no MSG_OOB data, so a Priority registration is reported for hangups and
//     errors only, which must set the bit; an fd registered for Priority alone sees
//     none on select (its except set is POLLPRI alone) nor on kqueue (the except filter
//     fires for out-of-band data alone; hangups and errors come from the read and write
//     filters). With a short events slice,
//     successive Waits must reach every ready fd. Fds closed while registered, also with a
//     duplicate keeping the file open and the number then reused (golang/go#59545),
//     must be handled as the contract says. Every input must leave the process with the
//     descriptors it started with.
//
// The model is Linux's (af_unix and epoll wakeup rules), so the tests build on Linux
// only. It states the contract exactly, with no allowance for known bugs: a closed Poller
// gives ErrClosed before it looks at any argument, and a Wait reports every ready fd, or
// as many as its events slice holds; only the Wait right after a Wake may return fewer.
//
// With a kqmodel_* build tag (kqmodel_freebsd, kqmodel_darwin, kqmodel_openbsd,
// kqmodel_netbsd), BackendKqueue runs on Linux over that flavour of internal/kqmodel, and
// the targets run against it too. Its Waits depend on the kernel's active queue and on
// the results the backend keeps when events is full, so the model replays each kqueue
// Wait step by step (kqueue_model_test.go: filters, edges, one-shot, closes, and the
// model kernel's one blind spot, a number closed and dup'd back) and checks it exactly:
//
//	go test -tags kqmodel_netbsd ./fuzz/
//	go test -tags kqmodel_netbsd ./fuzz/ -run '^$' -fuzz '^FuzzOps$' -fuzztime 3000x
//
// The checked-in corpus in testdata/fuzz runs with the ordinary tests:
//
//	go test -race ./fuzz/
//
// To fuzz, name one target (-fuzz takes a single target and every core, so -fuzz=.
// fails with "matches more than one fuzz test"); from the module root:
//
//	go test ./fuzz/ -run '^$' -fuzz '^FuzzOps$' -fuzztime 60s
//	go test ./fuzz/ -run '^$' -fuzz '^FuzzFlags$' -fuzztime 60s
//	go test ./fuzz/ -run '^$' -fuzz '^FuzzFdSet$' -fuzztime 60s
//
// On Go 1.26 a duration -fuzztime can end in "context deadline exceeded" with no input
// written: Go's fuzz coordinator racing its own deadline (golang/go#75804, fixed in Go
// 1.27), not a finding. A count of executions (-fuzztime 50000x) has no deadline; CI
// (.ci/run) gives each target a count.
//
// A failing input is written to testdata/fuzz/FuzzXxx/ and from then on runs as a plain
// test; once the implementation is fixed, keep it there, under a name that says what it
// shows, as a regression input (the corpus holds those of earlier findings).
package fuzz

//go:build aix || darwin || dragonfly || freebsd || illumos || netbsd || openbsd || solaris || (linux && (kqmodel_freebsd || kqmodel_darwin || kqmodel_openbsd || kqmodel_netbsd || portmodel_illumos))

package poller_test

// modelBackends is empty where the real kqueue runs, and with a kqmodel_* or portmodel_*
// tag, where Backends() already lists the model's flavour.
func modelBackends() []testBackend { return nil }

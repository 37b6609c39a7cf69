//go:build !(linux && (kqmodel_freebsd || kqmodel_darwin || kqmodel_openbsd || kqmodel_netbsd || portmodel_illumos))

package poller

import "sync"

// Without a kqmodel_* or portmodel_* build tag (see kqmodel_on.go, portmodel_on.go) no
// kernel model is built in.

func modelBackends() []Backend { return nil }

func openModel(Backend, *sync.Mutex) (backend, support, bool, error) {
	return nil, support{}, false, nil
}

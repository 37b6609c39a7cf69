//go:build linux && (kqmodel_freebsd || kqmodel_darwin || kqmodel_openbsd || kqmodel_netbsd) && !portmodel_illumos

package poller

import (
	"sync"

	"github.com/rawpoll/poller/internal/kqmodel"
)

// With one of the build tags kqmodel_freebsd, kqmodel_darwin, kqmodel_openbsd or
// kqmodel_netbsd, the kqueue backend's code runs on Linux over that flavour of the
// kernel model in internal/kqmodel: OpenBackend(BackendKqueue) works, and Backends()
// lists it first, so that any test suite, black-box ones included, runs against it:
//
//	go test -tags kqmodel_netbsd ./...
//
// It is for testing only: the model is slower than any real backend.

func modelBackends() []Backend { return []Backend{BackendKqueue} }

func openModel(b Backend, mu *sync.Mutex) (backend, support, bool, error) {
	if b != BackendKqueue {
		return nil, support{}, false, nil
	}
	kb, err := openKqueue(kqmodel.New(modelFlavour), modelFlavour.Sys(), mu)
	if err != nil {
		return nil, support{}, true, err
	}
	return kb, kb.support(), true, nil
}

//go:build linux && portmodel_illumos

package poller

import (
	"sync"

	"github.com/rawpoll/poller/internal/portmodel"
)

// With the build tag portmodel_illumos, the event ports backend's code runs on Linux over
// the illumos kernel model in internal/portmodel: OpenBackend(BackendPort) works, and
// Backends() lists it first, so that any test suite, black-box ones included, runs
// against it:
//
//	go test -tags portmodel_illumos ./...
//
// It is for testing only: the model is slower than any real backend. It takes precedence
// over a kqmodel_* tag given with it.

func modelBackends() []Backend { return []Backend{BackendPort} }

func openModel(b Backend, mu *sync.Mutex) (backend, support, bool, error) {
	if b != BackendPort {
		return nil, support{}, false, nil
	}
	pb, err := openPort(portmodel.New(portmodel.Illumos), portmodel.Illumos.Sys(), mu)
	if err != nil {
		return nil, support{}, true, err
	}
	return pb, pb.support(), true, nil
}

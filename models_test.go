//go:build linux && !(kqmodel_freebsd || kqmodel_darwin || kqmodel_openbsd || kqmodel_netbsd || portmodel_illumos)

package poller_test

import (
	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/internal/kqmodel"
	"github.com/rawpoll/poller/internal/portmodel"
)

// modelBackends lists the kqueue and event ports backends over each flavour of their
// kernel models, so that the shared tables run their code on Linux as "kqueue-freebsd",
// "port-illumos" and so on. With a kqmodel_* or portmodel_* build tag, Backends() lists
// the tagged flavour instead.
func modelBackends() []testBackend {
	var bs []testBackend
	for _, f := range kqmodel.Flavours() {
		f := f
		bs = append(bs, testBackend{
			name: "kqueue-" + f.String(),
			kind: poller.BackendKqueue,
			open: func() (*poller.Poller, error) { return poller.OpenKqueueModel(f, false) },
		}, testBackend{
			name: "kqueue-" + f.String() + "-park",
			kind: poller.BackendKqueue,
			open: func() (*poller.Poller, error) { return poller.OpenKqueueModel(f, true) },
		})
	}
	for _, f := range portmodel.Flavours() {
		f := f
		bs = append(bs, testBackend{
			name: "port-" + f.String(),
			kind: poller.BackendPort,
			open: func() (*poller.Poller, error) { return poller.OpenPortModel(f, false) },
		}, testBackend{
			name: "port-" + f.String() + "-park",
			kind: poller.BackendPort,
			open: func() (*poller.Poller, error) { return poller.OpenPortModel(f, true) },
		})
	}
	return bs
}

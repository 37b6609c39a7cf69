//go:build linux && !(kqmodel_freebsd || kqmodel_darwin || kqmodel_openbsd || kqmodel_netbsd)

package poller_test

import (
	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/internal/kqmodel"
)

// modelBackends lists the kqueue backend over each flavour of the kernel model, so that
// the shared tables run the kqueue code on Linux as "kqueue-freebsd" and so on. With a
// kqmodel_* build tag, Backends() lists the tagged flavour instead.
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
	return bs
}

//go:build linux

package poller

import "github.com/rawpoll/poller/internal/kqmodel"

// OpenKqueueModel opens a Poller on the kqueue backend's code over flavour f of the
// kernel model, parked or not, for the black-box tests (models_test.go).
func OpenKqueueModel(f kqmodel.Flavour, park bool) (*Poller, error) {
	p, _, err := openKqueueModel(f)
	return parkedIf(p, err, park)
}

// openKqueueModel is OpenKqueueModel, also returning the model, for fault injection.
func openKqueueModel(f kqmodel.Flavour) (*Poller, *kqmodel.Kernel, error) {
	p := &Poller{kind: BackendKqueue}
	k := kqmodel.New(f)
	kb, err := openKqueue(k, f.Sys(), &p.mu)
	if err != nil {
		return nil, nil, err
	}
	p.b, p.support = kb, kb.support()
	return p, k, nil
}

//go:build linux

package poller

import "github.com/rawpoll/poller/internal/portmodel"

// OpenPortModel opens a Poller on the event ports backend's code over flavour f of the
// kernel model, parked or not, for the black-box tests (models_test.go).
func OpenPortModel(f portmodel.Flavour, park bool) (*Poller, error) {
	p, _, err := openPortModel(f)
	return parkedIf(p, err, park)
}

// openPortModel is OpenPortModel, also returning the model, for fault injection.
func openPortModel(f portmodel.Flavour) (*Poller, *portmodel.Kernel, error) {
	p := &Poller{kind: BackendPort}
	k := portmodel.New(f)
	pb, err := openPort(k, f.Sys(), &p.mu)
	if err != nil {
		return nil, nil, err
	}
	p.b, p.support = pb, pb.support()
	return p, k, nil
}

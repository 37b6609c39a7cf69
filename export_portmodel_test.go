//go:build linux

package poller

import "github.com/rawpoll/poller/internal/portmodel"

// OpenPortModel opens a Poller on the event ports backend's code over flavour f of the
// kernel model, parked or not, for the black-box tests (models_test.go).
func OpenPortModel(f portmodel.Flavour, park bool) (*Poller, error) {
	p, _, err := openPortModel(f)
	if err != nil || !park {
		return p, err
	}
	if p.park, err = openParker(p.b, &p.closed, &p.wakePending); err != nil {
		p.b.close()
		return nil, err
	}
	return p, nil
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

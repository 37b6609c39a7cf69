//go:build linux

package poller

// parkedIf finishes opening p, from a kernel model, as Config.Open would: parked if park.
func parkedIf(p *Poller, err error, park bool) (*Poller, error) {
	if err != nil || !park {
		return p, err
	}
	if p.park, err = openParker(p.b, &p.closed, &p.wakePending); err != nil {
		p.b.close()
		return nil, err
	}
	return p, nil
}

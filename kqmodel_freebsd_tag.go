//go:build linux && kqmodel_freebsd

package poller

import "github.com/rawpoll/poller/internal/kqmodel"

const modelFlavour = kqmodel.FreeBSD

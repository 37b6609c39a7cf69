//go:build linux && kqmodel_openbsd

package poller

import "github.com/rawpoll/poller/internal/kqmodel"

const modelFlavour = kqmodel.OpenBSD

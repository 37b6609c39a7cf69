//go:build linux && kqmodel_netbsd

package poller

import "github.com/rawpoll/poller/internal/kqmodel"

const modelFlavour = kqmodel.NetBSD

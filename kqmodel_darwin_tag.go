//go:build linux && kqmodel_darwin

package poller

import "github.com/rawpoll/poller/internal/kqmodel"

const modelFlavour = kqmodel.Darwin

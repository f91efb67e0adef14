package main

import (
	"fmt"
	"math"
)

// costLine is one operation's cost per million on AWS, by component.
type costLine struct {
	op                 string
	memoryMB           int
	cpuMs, waitMs      float64 // CPU time and waiting, per operation, as measured here
	billedMs           float64
	lambdaReq, lambdaD float64 // USD per million operations
	rru, wru           float64 // request units per operation
	dynamo             float64
	kmsSigns           float64 // per operation
	kms                float64
	apigw              float64
	note               string
}

func (c costLine) total() float64 { return c.lambdaReq + c.lambdaD + c.dynamo + c.kms + c.apigw }

// billed estimates a Lambda duration on AWS from what was measured here:
// the CPU time scaled to the function's share of a vCPU (memory/1769 MB),
// plus the time spent waiting on the network, rounded up to 1 ms. The CPU
// here is an x86 server core, not Graviton, and the network waits are to
// local stand-ins, not AWS endpoints: an estimate, stated as such.
func billed(cpuMs, waitMs float64, memoryMB int) float64 {
	share := math.Min(1, float64(memoryMB)/vCPUMemoryMB)
	return math.Ceil(cpuMs/share + waitMs)
}

func newCostLine(op string, memoryMB int, cpuMs, waitMs, rru, wru, kmsSigns float64, kmsPrice price, apigw bool, note string) costLine {
	c := costLine{op: op, memoryMB: memoryMB, cpuMs: cpuMs, waitMs: waitMs, rru: rru, wru: wru, kmsSigns: kmsSigns, note: note}
	c.billedMs = billed(cpuMs, waitMs, memoryMB)
	c.lambdaReq = priceLambdaRequest.usd * 1e6
	c.lambdaD = float64(memoryMB) / 1024 * c.billedMs / 1000 * priceLambdaArmGBs.usd * 1e6
	c.dynamo = (rru*priceRRU.usd + wru*priceWRU.usd) * 1e6
	c.kms = kmsSigns * kmsPrice.usd * 1e6
	if apigw {
		c.apigw = priceHTTPAPI.usd * 1e6
	}
	return c
}

func usd(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.01:
		return fmt.Sprintf("$%.4f", v)
	default:
		return fmt.Sprintf("$%.2f", v)
	}
}

package main

import (
	"fmt"
	"log"
)

// dynamoUnits are the request units of one operation from its counted
// calls, for items under 4 KB (reads) and 1 KB (writes): a strongly
// consistent GetItem is 1 RRU, each key of a consistent BatchGetItem 1 RRU
// (the service always batches 3 keys), a consistent Query of a feed
// bucket 1 RRU (its few new items are well under 4 KB), each write 1 WRU.
func dynamoUnits(s sample) (rru, wru float64) {
	rru = s["DynamoDB.GetItem/op"] + 3*s["DynamoDB.BatchGetItem/op"] + s["DynamoDB.Query/op"]
	wru = s["DynamoDB.PutItem/op"] + s["DynamoDB.UpdateItem/op"] + s["DynamoDB.DeleteItem/op"]
	return rru, wru
}

// cpuWait is an operation's CPU time and the rest of its wall time (the
// waits on the local stand-ins), in milliseconds, medians.
func cpuWait(samples []sample) (cpu, wait float64) {
	cpu = median(values(samples, "cpu-ns/op")) / 1e6
	wall := median(values(samples, "ns/op")) / 1e6
	return cpu, max(wall-cpu, 0)
}

func (r *report) writeCost(w *mdWriter) {
	mem, err := memorySizes(r.opts)
	if err != nil {
		log.Printf("cost model: %v", err)
		return
	}
	s := r.services.samples
	aCPU, aWait := cpuWait(s["Authorize"])
	sCPU, sWait := cpuWait(s["AuthorizeStrict"])
	sR, sW := dynamoUnits(s["AuthorizeStrict"][0])
	lCPU, lWait := cpuWait(s["Login"])
	fCPU, fWait := cpuWait(s["Refresh"])
	aR, aW := dynamoUnits(s["Authorize"][0])
	lR, lW := dynamoUnits(s["Login"][0])
	fR, fW := dynamoUnits(s["Refresh"][0])
	signs := func(name string) float64 { return median(values(s[name], "KMS.Sign/op")) }
	const awsWait = 10 // ms: an assumed AWS round trip per operation, for the sensitivity row
	lines := []costLine{
		newCostLine("authorization, replica mode (ES256)", mem["AuthorizerFunction"], aCPU, aWait, aR, aW, 0, priceKMSAsym, false, "as measured here: one feed Query per second per container"),
		newCostLine("authorization, strict mode (ES256)", mem["AuthorizerFunction"], sCPU, sWait, sR, sW, 0, priceKMSAsym, false, "waits as measured here"),
		newCostLine("authorization, strict mode, AWS waits", mem["AuthorizerFunction"], sCPU, awsWait, sR, sW, 0, priceKMSAsym, false, fmt.Sprintf("waits %d ms (assumed)", awsWait)),
		newCostLine("login (ES256 key)", mem["LoginFunction"], lCPU, lWait, lR, lW, signs("Login"), priceKMSAsym, true, "waits as measured here"),
		newCostLine("login, AWS waits", mem["LoginFunction"], lCPU, 5*awsWait, lR, lW, signs("Login"), priceKMSAsym, true, fmt.Sprintf("waits %d ms (assumed)", 5*awsWait)),
		newCostLine("login (RSA 2048 key)", mem["LoginFunction"], lCPU, lWait, lR, lW, signs("Login"), priceKMSRSA2048, true, "RS256: cheaper Sign"),
		newCostLine("refresh (ES256 key)", mem["RefreshFunction"], fCPU, fWait, fR, fW, signs("Refresh"), priceKMSAsym, true, "fresh session"),
		newCostLine("refresh, AWS waits", mem["RefreshFunction"], fCPU, 4*awsWait, fR, fW, signs("Refresh"), priceKMSAsym, true, fmt.Sprintf("waits %d ms (assumed)", 4*awsWait)),
		// A session refreshed every 15 minutes for 7 days grows to about
		// 11 KB (README): its last rotations read 3 RRU and write 11 WRU.
		newCostLine("refresh, 7-day-old session", mem["RefreshFunction"], fCPU, fWait, fR+2, fW+10, signs("Refresh"), priceKMSAsym, true, "11 KB session item"),
	}
	w.p("## Cost model")
	w.p("")
	w.p("USD per million operations on AWS (us-east-1, on demand, no free tier), from the durations and AWS calls measured above and the prices below. The Lambda duration is estimated, not measured on AWS: the CPU time measured here divided by the function's share of a vCPU (memory ÷ %d MB, the memory sizes from template.yaml), plus the time spent waiting, rounded up to 1 ms. This machine's CPU is an x86 server core, not Graviton, and its waits are to local stand-ins: the rows marked *AWS waits* replace them with an assumed round trip to show how little that changes. DynamoDB units follow from the counted calls (a consistent read of an item under 4 KB is 1 RRU, a write under 1 KB 1 WRU).", vCPUMemoryMB)
	w.p("")
	w.header("operation", "memory", "CPU + wait → billed", "Lambda requests", "Lambda duration", "DynamoDB (RRU + WRU)", "KMS Sign", "API Gateway", "**total**")
	for _, c := range lines {
		w.row(c.op+" ("+c.note+")", fmt.Sprintf("%d MB", c.memoryMB),
			fmt.Sprintf("%.2f + %.2f ms → %.0f ms", c.cpuMs, c.waitMs, c.billedMs),
			usd(c.lambdaReq), usd(c.lambdaD), fmt.Sprintf("%s (%s + %s)", usd(c.dynamo), trimNum(c.rru), trimNum(c.wru)),
			usd(c.kms), usd(c.apigw), "**"+usd(c.total())+"**")
	}
	w.p("")
	w.p("An authorization's own cost has no API Gateway column: it is the price of guarding a request that API Gateway bills anyway (%s per million HTTP API requests). So the authorizer adds about **%s per million protected requests in replica mode** and %s in strict mode (%s and %s with the request itself). The replica's DynamoDB reads do not grow with the request rate: one consistent Query per second per warm container (about 2.6 million a month, %s, for a container busy all month), against 3 RRU per request in strict mode. Login and refresh are routes of their own and pay their API Gateway request. What dominates: the Lambda request fee (and in strict mode the 3 RRU of the revocation lookup) for the authorizer; the KMS Sign for login and refresh with an ECC key (an RSA 2048 key signs at a fifth of the price, with 256-byte signatures instead of 64), and argon2id's CPU for login.",
		usd(priceHTTPAPI.usd*1e6), usd(lines[0].total()), usd(lines[1].total()), usd(lines[0].total()+priceHTTPAPI.usd*1e6),
		usd(lines[1].total()+priceHTTPAPI.usd*1e6), usd(30*24*3600*priceRRU.usd))
	w.p("")
	w.p("Prices, read on 2026-11-28 (check them before relying on them):")
	w.p("")
	w.header("price", "USD", "source")
	for _, p := range []price{priceLambdaRequest, priceLambdaArmGBs, priceHTTPAPI, priceRRU, priceWRU, priceKMSAsym, priceKMSRSA2048} {
		w.row(p.what, fmt.Sprintf("%.10g per %s", p.usd, p.unit), p.source)
	}
	w.p("")
	w.p("Not in the model: the KMS key ($1 per month), CloudWatch Logs (the authorizer logs nothing on an allow), data transfer, and the free tiers.")
	w.p("")
}

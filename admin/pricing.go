package admin

// DefaultPricePer10k is the KMS request price savings are reported at unless
// configured: AWS KMS's $0.03 per 10,000 requests.
const DefaultPricePer10k = 0.03

// Cost is what n KMS requests cost, in dollars, at pricePer10k dollars per
// 10,000 requests. Dollars are reporting (/stats, /metrics, the report and
// the shutdown line): keycache counts requests only.
func Cost(n int64, pricePer10k float64) float64 {
	return float64(n) * pricePer10k / 10000
}

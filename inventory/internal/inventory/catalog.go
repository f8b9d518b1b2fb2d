package inventory

// SeedCatalog is the catalog a fresh inventory starts with, so `make up`
// has something to sell. Prices are in euro cents.
func SeedCatalog() []Product {
	eur := func(cents int64) Money { return Money{Currency: "EUR", Minor: cents} }
	return []Product{
		{ID: "p-1001", Name: "Espresso beans, 1 kg", Price: eur(2490), Available: 100},
		{ID: "p-1002", Name: "Ceramic pour-over dripper", Price: eur(3200), Available: 40},
		{ID: "p-1003", Name: "Hand grinder", Price: eur(8900), Available: 25},
		{ID: "p-1004", Name: "Gooseneck kettle", Price: eur(6450), Available: 30},
		{ID: "p-1005", Name: "Paper filters, 100 pcs", Price: eur(690), Available: 500},
	}
}

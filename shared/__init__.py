"""What both sides of Comptoir import: wire schemas, ids, money, barcodes, geo distance."""

def formulas(): return {}

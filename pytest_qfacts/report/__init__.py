"""Reports: terminal summary and JSON (HTML and JUnit properties come later)."""

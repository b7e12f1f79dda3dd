"""Application layer: cases, jobs, reports and the CLI (Qt-free except the PDF painter)."""

"""The printed card face: ReportLab rendering of front and back, the fonts, the printer
drivers (spool, CUPS, virtual) and QC's check of the printed PDF."""

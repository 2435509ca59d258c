"""The chip: ICAO 9303 LDS files and their Security Object, ISO 7816-4 APDUs, the transports
that carry them (in process, PC/SC), the virtual chip and its vpcd emulator, personalisation
and read-back, and QC's checks of what a chip holds."""

"""Contact details: one pure function per kind that validates and normalises it (email, UK mobile,
postal address, postcode, country), used by the API, the CSV import, the event path and every
channel adapter alike."""

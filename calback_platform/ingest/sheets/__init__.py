"""The marketer's ad spend sheet into `raw_sheets.ad_spend` (and `ad_spend_quarantine`).

asset.py (one unpartitioned asset: read the whole sheet, judge every row, replace both tables)
-> source.py (the source interface, raw cells; the local CSV file in the sheet's layout) |
google_sheets.py (a Google spreadsheet through gspread: bounded retries, clear failures, and
the tab writer other assets write back with) -> validate.py (the layout and the rules a row
must meet, against the currencies and channels of the dbt seeds).
"""

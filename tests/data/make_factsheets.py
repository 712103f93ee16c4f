"""Writes the test factsheets in this directory. TEST DATA: every figure is invented.

Run `python tests/data/make_factsheets.py` after changing it; the files it writes are committed so
the tests read fixed bytes. The odd cases are on purpose: a title and a test-data note above the
header, a header merged over two columns (XLSX), empty cells, '–', percentages written as text and
as a percent-formatted number, a formula without a cached value, a second sheet, a 'Bron:' line.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent

CSV = """Werkzoekenden en WW per arbeidsmarktregio, december 2024
TESTDATA: verzonnen cijfers voor de tests van Marktwijzer, geen echte bron
Arbeidsmarktregio;Geregistreerde werkzoekenden;Aandeel met WW-uitkering;Vacatures (x 1.000)
Groningen;50.234;23,5%;12,4
Drenthe;17.900;–;4,1
Friesland;41.450;21,0%;
Totaal;109.584;22,8%;
Bron: testbestand Marktwijzer (verzonnen cijfers)
"""


def write_xlsx(path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Werkzoekenden"
    sheet.append(["Werkzoekenden en vacatures Noord-Nederland (TESTDATA, verzonnen cijfers)"])
    sheet.append([])
    sheet.append(["Arbeidsmarktregio", "Werkzoekenden", None, "Openstaande vacatures", None])
    sheet.merge_cells("B3:C3")
    sheet.merge_cells("D3:E3")
    sheet.append([None, "2023", "2024", "2023", "2024"])
    sheet.append(["Groningen", 48100, 50234, 11000, 12500])
    sheet.append(["Drenthe", 17000, 17900, "–", 4100])
    sheet.append(["Friesland", 40000, None, 9000, 9500])
    sheet.append(["Totaal", 105100, 109584, 20000, 26100])
    sheet.append([])
    sheet.append(["Bron: testbestand Marktwijzer (verzonnen cijfers)"])
    second = book.create_sheet("Aandelen")
    second.append(["Aandeel WW onder werkzoekenden, 2024 (TESTDATA)"])
    second.append(["Arbeidsmarktregio", "Aandeel WW", "Aandeel bijstand", "Berekend"])
    second.append(["Groningen", 0.235, "41,5%", "=B3*2"])
    second.append(["Drenthe", 0.198, "38,0%", "=B4*2"])
    for row in (3, 4):
        second.cell(row=row, column=2).number_format = "0.0%"
    book.save(path)


def main() -> None:
    (HERE / "factsheet-test-regios.csv").write_text(CSV, encoding="utf-8")
    (HERE / "factsheet-test-regios-cp1252.csv").write_bytes(CSV.replace("–", "-").replace("Groningen", "Gröningen-test").encode("cp1252"))
    write_xlsx(HERE / "factsheet-test-regios.xlsx")


if __name__ == "__main__":
    main()

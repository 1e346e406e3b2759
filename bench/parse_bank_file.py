"""Parse a generated 100k-entry BAI2, camt.053 and MT940 file; print entries per second.

    .venv/bin/python bench/parse_bank_file.py [--entries 100000]

The files are built in memory from a fixed seed, so runs compare. The import target is 100k entries in
5 s including the database, which leaves parsing well under 2 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from payments.parsers import parse_bank_file  # noqa: E402


def bai2_file(n: int, rng: random.Random) -> bytes:
    lines = ["01,BANKUS33,O2C,250102,0600,1,,,2/", "02,O2C,BANKUS33,1,250101,2400,USD,2/",
             "03,1234567890,USD,010,100000,,,015,{closing},,/"]
    total = 100000
    net = 0
    body = []
    for i in range(n):
        cents = rng.randint(100, 5_000_000)
        code = rng.choice(("142", "195", "115", "451"))
        net += cents if code != "451" else -cents
        total += cents
        body.append(f"16,{code},{cents},Z,BR{i:010d},CR{i:08d},PAYMENT FROM CUSTOMER {i % 997}/")
        if i % 3 == 0:
            body.append(f"88,OBI:=INV-{i:07d} INV-{i + 1:07d}/")
    closing = 100000 + net
    total += closing
    lines[2] = lines[2].format(closing=closing)
    lines += body
    count = len(body) + 2
    lines += [f"49,{total},{count}/", f"98,{total},1,{count + 2}/", f"99,{total},1,{count + 4}/"]
    return "\n".join(lines).encode()


def camt_file(n: int, rng: random.Random) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
             "<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2025-01-02T06:00:00</CreDtTm></GrpHdr>",
             "<Stmt><Id>BENCH-1</Id><CreDtTm>2025-01-02T06:00:00</CreDtTm>",
             "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>"]
    for i in range(n):
        amount = f"{rng.randint(100, 5_000_000) / 100:.2f}"
        parts.append(
            f"<Ntry><NtryRef>{i}</NtryRef><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
            "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2025-01-01</Dt></BookgDt><ValDt><Dt>2025-01-01</Dt></ValDt>"
            f"<AcctSvcrRef>ASR{i:010d}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
            "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            f"<Refs><EndToEndId>E2E{i}</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>Customer {i % 997}</Nm>"
            "</Pty></Dbtr><DbtrAcct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></DbtrAcct></RltdPties>"
            f"<RmtInf><Strd><RfrdDocInf><Nb>INV-{i:07d}</Nb></RfrdDocInf><RfrdDocAmt><RmtdAmt Ccy=\"EUR\">{amount}"
            "</RmtdAmt></RfrdDocAmt></Strd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode()


def mt940_file(n: int, rng: random.Random) -> bytes:
    """One MT940 statement of n credits, each with a :86: of German ?NN subfields (EREF, SVWZ, payer name)."""
    lines = [":20:BENCH", ":25:DE89370400440532013000", ":28C:1/1", ":60F:C250101EUR1000,00"]
    closing = 100000
    for i in range(n):
        cents = rng.randint(100, 5_000_000)
        closing += cents
        lines.append(f":61:2501020102C{cents // 100},{cents % 100:02d}NTRFE2E{i}//BR{i:010d}")
        lines.append(f":86:166?00GUTSCHRIFT?20EREF+E2E{i}?21SVWZ+INV-{i:07d}?32Customer {i % 997}")
    lines += [f":62F:C250102EUR{closing // 100},{closing % 100:02d}", "-"]
    return "\n".join(lines).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    for name, build in (("BAI2", bai2_file), ("camt.053", camt_file), ("MT940", mt940_file)):
        data = build(args.entries, random.Random(20250101))
        start = time.perf_counter()
        parsed = parse_bank_file(data)
        elapsed = time.perf_counter() - start
        count = len(parsed.entries)
        assert count == args.entries, (name, count)
        print(f"{name:9} {len(data) / 1e6:6.1f} MB  {count} entries in {elapsed:5.2f} s  "
              f"= {count / elapsed:,.0f} entries/s  warnings: {len(parsed.warnings)}")


if __name__ == "__main__":
    main()

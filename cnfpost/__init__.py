"""cnfpost: explain why a network request was slow, layer by layer, with the packets as proof.

    import cnfpost
    report = cnfpost.analyze("capture.pcap", timings="t.jsonl", mtr="m.json", ping="p.txt")
    report["layered_analysis"]["l3"]["quality"]
    report["tcp_http_correlation"]["tls"]["retransmissions"]
    report["mtr_tcp_correlation"]["verdict"]
    report.to_json()          # the same bytes `cnfpost analyze --json` writes
"""
__version__ = "0.1.0"
__all__ = ["analyze", "__version__"]


def analyze(source=None, **inputs):
    """Analyse one run; see cnfpost.pipeline.analyze (imported on first use: a plain
    `import cnfpost` stays cheap)."""
    from .pipeline import analyze as run

    return run(source, **inputs)

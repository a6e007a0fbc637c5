"""Data: choose the purchase log, map its columns, read the validation report, browse a domain.

An upload may be several files, one per product category: they are merged into one dataset (`merge_files`), and
the page says which rows came from which file and where each file's domain came from. An upload becomes the
working dataset only once it loads: until then it is pending, its problem is shown with the column-name fields
to fix it, and every page keeps using the dataset that worked.
"""

from pathlib import Path

import streamlit as st
from frames import MISSING, domain_table, dropped_csv, dropped_summary, history_frame
from loaders import domain_data, load_dataset, max_upload_bytes, save_upload, show_data_error, usable_domains
from plain import md, plain
from state import Dataset, current_dataset, dev_datasets, sample_dataset, set_dataset, uploaded_dataset

from xcross_core.data.clean import OUR_COLUMNS
from xcross_core.data.report import DataError
from xcross_core.paths import safe_name

#: How the timestamps of a file were read (the load report's `timestamp_format`), in words.
TIMESTAMPS = {
    "iso": "dates and times (ISO 8601): purchases are ordered by when they happened",
    "epoch_s": "seconds since 1 January 1970 (Unix time): purchases are ordered by when they happened",
    "epoch_ms": "milliseconds since 1 January 1970 (Unix time): purchases are ordered by when they happened",
    "position": "positions in each customer's sequence (1, 2, 3, …): only their order counts, not their dates",
}

st.title("Data")

# -- which dataset ------------------------------------------------------------------------------------------
current = current_dataset()
datasets = {d.label: d for d in [sample_dataset(), *dev_datasets()]}
keys = [*datasets, "upload"]
picked = st.radio(
    "Dataset",
    keys,
    index=keys.index(current.label if current.label in datasets else "upload"),
    format_func=lambda key: "Upload a file" if key == "upload" else plain(key),
    horizontal=True,
)
if picked == "upload":
    limit_mb = max_upload_bytes() // 2**20
    st.caption(
        f"CSV, TSV, Parquet or JSON Lines, one row per purchase; up to {limit_mb} MB per file. Several files (one per "
        "product category) are merged into one dataset: each row's domain comes from the files' domain column, or, "
        "when they have none, from each file's name (beauty.csv gives the domain beauty)."
    )
    left, right = st.columns(2)
    types = ["csv", "tsv", "parquet", "jsonl", "ndjson"]
    files = left.file_uploader(
        "Interactions files (user_id, item_id, timestamp, domain, title)", type=types, accept_multiple_files=True
    )
    item_files = right.file_uploader(
        "Item files (optional: item_id, title, other text columns)", type=types, accept_multiple_files=True
    )
    if st.button("Use these files", type="primary", disabled=not files):
        try:
            saved = [(f.name, save_upload(f.name, f.getvalue())) for f in [*files, *item_files]]
        except ValueError as err:
            show_data_error(err, "Upload refused")
        except OSError as err:  # the workspace's side: a full disk, a file in the way of the uploads folder
            show_data_error(err, "The upload could not be saved")
        else:
            try:
                dataset, merge_notes = uploaded_dataset(saved[: len(files)], saved[len(files) :])
            except DataError as err:
                show_data_error(err, "These files cannot be merged")
            except OSError as err:
                show_data_error(err, "The merged file could not be saved")
            else:
                st.session_state["upload_notes"] = [
                    f"An earlier upload is called {safe_name(Path(given).name)}, so this file was saved as {path.name}."
                    for given, path in saved
                    if path.name != safe_name(Path(given).name)
                ] + merge_notes
                st.session_state["pending_upload"] = dataset
                st.rerun()
    for note in st.session_state.pop("upload_notes", []):
        st.info(plain(note))
else:
    st.session_state.pop("pending_upload", None)  # leaving the upload abandons a file that did not load
    chosen = datasets[picked]
    if chosen.label != current.label:
        set_dataset(chosen)
        current = chosen

# -- a pending upload: the working dataset until it loads -----------------------------------------------------
pending: Dataset | None = st.session_state.get("pending_upload")
if pending is not None:
    try:
        load_dataset(pending)
    except DataError as err:
        show_data_error(err, f"{pending.label} cannot be used yet")
        st.info(
            md(
                "Every page keeps using **{}** until it can. Fix the column names below, or upload a corrected file.",
                current.label,
            )
        )
    else:
        set_dataset(pending)
        current = pending
        del st.session_state["pending_upload"]
        pending = None
        st.success(md("Now using **{}**.", current.label))
elif current.label.startswith("Upload"):
    st.caption(md("Using **{}**.", current.label))
elif picked == "upload":
    st.info(md("Upload a file and press **Use these files**; until then the analysis below uses {}.", current.label))

# -- column mapping -----------------------------------------------------------------------------------------
mapped = pending or current
mapping = dict(mapped.columns)
with st.expander("Column names (if your file calls them something else)", expanded=bool(mapping) or bool(pending)):
    st.caption(md("For each column the studio needs, the name it has in {}.", mapped.label.removeprefix("Upload: ")))
    cols = st.columns(5)
    given = {
        ours: cols[i].text_input(ours, mapping.get(ours, ours), key=f"col-{ours}") for i, ours in enumerate(OUR_COLUMNS)
    }
    if st.button("Apply column names"):
        columns = tuple(sorted((o, t.strip()) for o, t in given.items() if t.strip() and t.strip() != o))
        remapped = Dataset(mapped.label, mapped.interactions, mapped.items, columns)
        if pending is not None:
            st.session_state["pending_upload"] = remapped
        else:
            set_dataset(remapped)
        st.rerun()

# -- validation report ---------------------------------------------------------------------------------------
try:
    result = load_dataset(current)
except DataError as err:
    show_data_error(err, "This data cannot be used")
    if err.report is not None and len(err.report.dropped):
        st.dataframe(dropped_summary(err.report), hide_index=True)
        st.download_button("Download the dropped rows (CSV)", dropped_csv(err.report), "dropped_rows.csv", "text/csv")
    st.stop()

report = result.report
domains = usable_domains(result)
status = st.columns(4)
status[0].metric("Status", "OK" if report.ok else "Problems found")
status[1].metric("Domains usable", f"{len(domains)} of {len(report.domains)}")
status[2].metric("Purchases kept", f"{len(result.interactions.frame):,}")
status[3].metric("Rows dropped", f"{len(report.dropped):,}")
read_as = TIMESTAMPS.get(report.timestamp_format, report.timestamp_format)
st.caption(md("Timestamps were read as {}.", read_as))

st.subheader("Per domain")
# Fourteen columns: narrow numbers with short headers (help says what each is), so the note fits beside them.
count_column, text_column = st.column_config.NumberColumn, st.column_config.TextColumn
lengths = {
    "min": "the fewest",
    "median": "the median",
    "mean": "the mean",
    "p90": "90% have at most",
    "max": "the most",
}
st.dataframe(
    domain_table(result),
    hide_index=True,
    width="stretch",
    placeholder=MISSING,
    column_config={
        "domain": text_column(width="medium", pinned=True),
        "users": count_column(width="small", help="Customers with at least one purchase kept."),
        "items": count_column(width="small", help="Products with at least one purchase kept."),
        "interactions": count_column("purchases", width="small", help="Purchases (rows) kept."),
        "items without text": count_column("untitled", width="small", help="Products with no title or text."),
        "duplicate rows": count_column("duplicates", width="small", help="Exact copies of a row, dropped."),
        "single interaction users": count_column(
            "1 purchase", width="small", help="Customers with a single purchase: no history to learn from."
        ),
        **{
            f"length {stat}": count_column(
                stat,
                width="small",
                format="%d" if stat in ("min", "max") else "%.1f",
                help=f"Purchases per customer (history length): {word}.",
            )
            for stat, word in lengths.items()
        },
        "usable": st.column_config.CheckboxColumn(width="small", help="Enough customers to train on."),
        "note": text_column(width="large", help="Why a domain cannot be used yet."),
    },
)
st.caption(
    f"min, median, mean, p90, max: purchases per customer (history length) in the domain. {MISSING}: no purchase "
    "of the domain was kept."
)
if len(report.dropped):
    st.subheader("Dropped rows")
    st.caption("Row numbers are data rows of the named file (the header is not counted).")
    st.dataframe(dropped_summary(report), hide_index=True)
    st.download_button("Download the dropped rows (CSV)", dropped_csv(report), "dropped_rows.csv", "text/csv")
for message in report.errors:
    st.error(plain(message))
if report.warnings:
    with st.expander(f"Warnings ({len(report.warnings)})"):
        for message in report.warnings:
            st.warning(plain(message))

# -- browse ----------------------------------------------------------------------------------------------------
if not domains:
    st.info("No domain has enough users to train on; see the notes in the table above.")
    st.stop()
st.subheader("Browse a domain")
left, right = st.columns(2)
name = left.selectbox("Domain", domains, key="browse-domain")
domain = domain_data(current, name)
items_table = result.interactions.items
items_table = items_table[items_table["domain"] == name].drop(columns=["text", "domain"])
search = left.text_input("Search titles", key="browse-search")
if search:
    items_table = items_table[items_table["title"].str.contains(search, case=False, regex=False)]
left.caption(f"{len(items_table):,} of {domain.n_items:,} items")
left.dataframe(items_table, hide_index=True, height=360, width="stretch")
users = domain.user_ids.tolist()
user = right.selectbox(f"A customer's history ({len(users):,} customers)", users, key="browse-user")
right.dataframe(history_frame(domain, domain.sequence(domain.user_index[user])), hide_index=True)

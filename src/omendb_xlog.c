/*-------------------------------------------------------------------------
 *
 * omendb_xlog.c
 *	  Changing pages: atomic changes of a few pages at a time.
 *
 * All changes after build go through generic xlog, which also handles
 * relations that are not WAL-logged (unlogged tables); during build the
 * pages are written without WAL and logged wholesale at the end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"

#include "omendb_page.h"

/* Begin an atomic change of up to MAX_GENERIC_XLOG_PAGES locked pages. */
void
omendb_edit_begin(OmenPageEdit *edit, Relation index, bool use_wal)
{
	edit->state = use_wal ? GenericXLogStart(index) : NULL;
	edit->nbufs = 0;
}

/*
 * Add a locked buffer to the change; returns the page image to modify.  A
 * buffer the change holds already gives the same image again.
 */
Page
omendb_edit_page(OmenPageEdit *edit, Buffer buf, bool new_page)
{
	bool		held = false;

	for (int i = 0; i < edit->nbufs && !held; i++)
		held = edit->bufs[i] == buf;
	if (!held)
	{
		Assert(edit->nbufs < MAX_GENERIC_XLOG_PAGES);
		edit->bufs[edit->nbufs++] = buf;
	}
	if (edit->state)
		return GenericXLogRegisterBuffer(edit->state, buf,
										 new_page ? GENERIC_XLOG_FULL_IMAGE : 0);
	return BufferGetPage(buf);
}

/* Finish the change: log and apply it, or mark the buffers dirty. */
void
omendb_edit_finish(OmenPageEdit *edit)
{
	if (edit->state)
		GenericXLogFinish(edit->state);
	else
		for (int i = 0; i < edit->nbufs; i++)
			MarkBufferDirty(edit->bufs[i]);
}

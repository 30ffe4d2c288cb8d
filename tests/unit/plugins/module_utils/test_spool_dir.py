"""Private spool directories (spool.py): a killed run's copy of backup.json lasts until the next run."""

import os

from ansible_collections.papermerge.backup.plugins.module_utils.spool_dir import SpoolDir, remove_abandoned


def test_abandoned_spool_directories_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv('TMPDIR', str(tmp_path))
    monkeypatch.setattr('tempfile.tempdir', None)
    abandoned = tmp_path / '.papermerge-test-spool-old'
    abandoned.mkdir()
    (abandoned / '.backup.json').write_text('{}')
    with SpoolDir('.papermerge-test-spool-') as live:
        assert not abandoned.exists()
        assert remove_abandoned('.papermerge-test-spool-') == []  # the live one is locked
        assert os.path.isdir(live.path)
    assert os.listdir(str(tmp_path)) == []

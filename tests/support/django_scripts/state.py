"""Print the state of a Papermerge 2.1 instance as JSON, through Papermerge's own ORM.

Runs inside the Papermerge venv with the instance's environment (see
tests/support/papermerge_host.py).  The rendering is independent of the database engine and of
auto-increment ids, and sorted, so that two instances hold the same data exactly when their
states compare equal.  Nodes are identified by path (titles from the user's top folder down,
joined by "/", e.g. ".home/Invoices/2021"), computed here in Python: Papermerge's own recursive
SQL (get_ancestors) fails on PostgreSQL in 2.1.5.

    state.py [--no-timestamps]     (--no-timestamps: no created_at/updated_at anywhere)

Shape (every list sorted by the key in brackets; uuids as strings; times ISO 8601):
    users [username]: id, username, email, first_name, last_name, password (hash),
        is_superuser, is_staff, is_active, date_joined, last_login, created_at, updated_at,
        home_folder / inbox_folder: {id, path} or None, groups: [name],
        user_permissions: ["app.codename"], preferences: {"section__name": raw value}
    groups [name]: name, permissions: ["app.codename"]
    tags [user, name]: id, user (username), name, slug, bg_color, fg_color, description, pinned
    folders [user, path]: id, user, path (".home/Invoices/2021"), title, ctype, lang,
        parent_path (None at the top), tags: [{name, bg_color, fg_color, content_type}],
        created_at, updated_at
    documents [user, path]: the folder keys, plus ocr, ocr_status,
        versions [number]: id, number, file_name, size, page_count, lang, short_description,
            text, pages [number]: id, number, page_count, text, lang, norm_doc_title,
                norm_folder_title, norm_breadcrump, norm_text, image
    files: {path relative to the media root: sha256, or "symlink:<target>"} (but the instance lock file)
    counts: users, groups, tags, folders, documents, versions, pages, tagged_items, files
"""

import hashlib
import json
import os
import sys

import django


def iso(value):
    return value.isoformat() if value is not None else None


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


# papermerge.backup's lock file (plugins/module_utils/instance_lock.py): it stays in the media root once a backup
# or restore has run, holds no data, and Papermerge never reads it.
INSTANCE_LOCK = '.papermerge-backup-instance.lock'


def media_files(media_root):
    """relative path -> sha256 of every regular file; symlinks as 'symlink:<target>'."""
    files = {}
    for directory, subdirs, names in os.walk(media_root):
        subdirs.sort()
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, media_root)
            if relative == INSTANCE_LOCK:
                continue
            if os.path.islink(path):
                files[relative] = 'symlink:' + os.readlink(path)
            else:
                files[relative] = sha256_of(path)
    return dict(sorted(files.items()))


class StateRenderer:
    def __init__(self, timestamps=True):
        from papermerge.core import models

        self.m = models
        self.timestamps = timestamps
        nodes = models.BaseTreeNode.objects.select_related('user').all()
        self.nodes = {node.pk: node for node in nodes}
        self.paths = {}

    def path_of(self, node_id):
        """Titles from the top folder down to the node, joined by '/'."""
        if node_id not in self.paths:
            node = self.nodes[node_id]
            if node.parent_id is None:
                self.paths[node_id] = node.title
            else:
                self.paths[node_id] = self.path_of(node.parent_id) + '/' + node.title
        return self.paths[node_id]

    def stamps(self, row):
        if not self.timestamps:
            return {}
        return {'created_at': iso(row.created_at), 'updated_at': iso(row.updated_at)}

    def node_tags(self):
        """node uuid -> sorted tags attached to it (through core_coloredtag)."""
        tags = {}
        for item in self.m.ColoredTag.objects.select_related('tag', 'content_type'):
            tags.setdefault(item.object_id, []).append({
                'name': item.tag.name, 'bg_color': item.tag.bg_color,
                'fg_color': item.tag.fg_color,
                'content_type': '%s.%s' % (item.content_type.app_label,
                                           item.content_type.model)})
        return {key: sorted(value, key=lambda t: t['name']) for key, value in tags.items()}

    def render(self):
        from django.conf import settings

        tags_of = self.node_tags()
        state = {
            'users': self.users(),
            'groups': self.groups(),
            'tags': self.tags(),
            'folders': self.folders(tags_of),
            'documents': self.documents(tags_of),
            'files': media_files(settings.MEDIA_ROOT),
        }
        state['counts'] = self.counts(state)
        return state

    def preferences(self):
        """user uuid -> {"section__name": raw value} of the preferences stored for the user."""
        from dynamic_preferences.users.models import UserPreferenceModel

        stored = {}
        for row in UserPreferenceModel.objects.all():
            stored.setdefault(row.instance_id, {})['%s__%s' % (row.section, row.name)] = \
                row.raw_value
        return stored

    def users(self):
        preferences = self.preferences()
        users = []
        for user in self.m.User.objects.prefetch_related('groups', 'user_permissions'):
            entry = {
                'id': str(user.pk), 'username': user.username, 'email': user.email,
                'first_name': user.first_name, 'last_name': user.last_name,
                'password': user.password, 'is_superuser': user.is_superuser,
                'is_staff': user.is_staff, 'is_active': user.is_active,
                'date_joined': iso(user.date_joined), 'last_login': iso(user.last_login),
                'home_folder': self._folder_ref(user.home_folder_id),
                'inbox_folder': self._folder_ref(user.inbox_folder_id),
                'groups': sorted(g.name for g in user.groups.all()),
                'user_permissions': sorted('%s.%s' % (p.content_type.app_label, p.codename)
                                           for p in user.user_permissions.all()),
                'preferences': dict(sorted(preferences.get(user.pk, {}).items())),
            }
            entry.update(self.stamps(user))
            users.append(entry)
        return sorted(users, key=lambda u: u['username'])

    def _folder_ref(self, folder_id):
        if folder_id is None:
            return None
        return {'id': str(folder_id), 'path': self.path_of(folder_id)}

    def groups(self):
        from django.contrib.auth.models import Group

        return sorted(({'name': g.name,
                        'permissions': sorted('%s.%s' % (p.content_type.app_label, p.codename)
                                              for p in g.permissions.all())}
                       for g in Group.objects.all()), key=lambda g: g['name'])

    def tags(self):
        tags = [{'id': str(t.pk), 'user': t.user.username, 'name': t.name, 'slug': t.slug,
                 'bg_color': t.bg_color, 'fg_color': t.fg_color, 'description': t.description,
                 'pinned': t.pinned}
                for t in self.m.Tag.objects.select_related('user')]
        return sorted(tags, key=lambda t: (t['user'], t['name']))

    def node_entry(self, node, tags_of):
        entry = {
            'id': str(node.pk), 'user': node.user.username, 'path': self.path_of(node.pk),
            'title': node.title, 'ctype': node.ctype, 'lang': node.lang,
            'parent_path': self.path_of(node.parent_id) if node.parent_id else None,
            'tags': tags_of.get(node.pk, []),
        }
        entry.update(self.stamps(node))
        return entry

    def folders(self, tags_of):
        folders = [self.node_entry(self.nodes[f.pk], tags_of)
                   for f in self.m.Folder.objects.only('pk')]
        return sorted(folders, key=lambda f: (f['user'], f['path']))

    def documents(self, tags_of):
        versions_of = self.versions()
        documents = []
        for document in self.m.Document.objects.all():
            entry = self.node_entry(self.nodes[document.pk], tags_of)
            entry.update({'ocr': document.ocr, 'ocr_status': document.ocr_status,
                          'versions': versions_of.get(document.pk, [])})
            documents.append(entry)
        return sorted(documents, key=lambda d: (d['user'], d['path']))

    def versions(self):
        pages_of = {}
        for page in self.m.Page.objects.all():
            pages_of.setdefault(page.document_version_id, []).append({
                'id': str(page.pk), 'number': page.number, 'page_count': page.page_count,
                'text': page.text, 'lang': page.lang, 'norm_doc_title': page.norm_doc_title,
                'norm_folder_title': page.norm_folder_title,
                'norm_breadcrump': page.norm_breadcrump, 'norm_text': page.norm_text,
                'image': page.image})
        versions_of = {}
        for version in self.m.DocumentVersion.objects.all():
            versions_of.setdefault(version.document_id, []).append({
                'id': str(version.pk), 'number': version.number,
                'file_name': version.file_name, 'size': version.size,
                'page_count': version.page_count, 'lang': version.lang,
                'short_description': version.short_description, 'text': version.text,
                'pages': sorted(pages_of.get(version.pk, []), key=lambda p: p['number'])})
        return {key: sorted(value, key=lambda v: v['number'])
                for key, value in versions_of.items()}

    def counts(self, state):
        return {
            'users': len(state['users']), 'groups': len(state['groups']),
            'tags': len(state['tags']), 'folders': len(state['folders']),
            'documents': len(state['documents']),
            'versions': sum(len(d['versions']) for d in state['documents']),
            'pages': sum(len(v['pages']) for d in state['documents'] for v in d['versions']),
            'tagged_items': self.m.ColoredTag.objects.count(),
            'files': len(state['files']),
        }


def main(argv):
    timestamps = '--no-timestamps' not in argv
    django.setup()
    state = StateRenderer(timestamps=timestamps).render()
    sys.stdout.write(json.dumps(state, ensure_ascii=False, sort_keys=True, indent=1))
    sys.stdout.write('\n')


if __name__ == '__main__':
    main(sys.argv[1:])

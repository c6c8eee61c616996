// The projects area: projects, their members, and (lookup.ts) the owner a `projectid` names.
export {
  createProject, listProjects, updateProject, deleteProject, activateProject, suspendProject,
  addAccountToProject, deleteAccountFromProject, listProjectAccounts,
} from './projects.ts';
